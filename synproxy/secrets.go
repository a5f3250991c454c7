package synproxy

import "encoding/binary"

// KeySize is the size of a cookie secret: two SipHash-2-4 keys, one for the
// time-independent hash and one for the hash of the time window (Linux
// likewise keys its two cookie hashes separately).
const KeySize = 32

// Key is one cookie secret. The control plane draws it from crypto/rand.
type Key [KeySize]byte

// Secrets holds the current cookie secret and the one before it, so a
// cookie issued just before a rotation still validates. It is a plain value:
// the control plane keeps its own, calls Rotate, and hands each worker a copy
// with the next table snapshot; a worker never reads a Secrets that is being
// written.
type Secrets struct {
	current, previous secret
	// Generation counts rotations (0 until the first Rotate); it is exported
	// to metrics and lets tests tell the secrets apart.
	Generation  uint64
	hasPrevious bool
}

type secret struct{ base, window sipKey }

// NewSecrets returns secrets whose current key is key and that have no
// previous key.
func NewSecrets(key Key) Secrets {
	return Secrets{current: secretFrom(&key)}
}

// Rotate makes key the current secret and the current one the previous. The
// control plane rotates at most once per CookiePeriod, so that the previous
// key covers every cookie still within MaxCookieAge.
func (s *Secrets) Rotate(key Key) {
	s.previous, s.hasPrevious = s.current, true
	s.current = secretFrom(&key)
	s.Generation++
}

func secretFrom(k *Key) secret {
	return secret{
		base:   sipKey{binary.LittleEndian.Uint64(k[0:]), binary.LittleEndian.Uint64(k[8:])},
		window: sipKey{binary.LittleEndian.Uint64(k[16:]), binary.LittleEndian.Uint64(k[24:])},
	}
}

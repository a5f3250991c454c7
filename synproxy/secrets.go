package synproxy

import (
	"crypto/rand"
	"encoding/binary"
)

// KeySize is the size of a cookie secret: two SipHash-2-4 keys, one for the
// flow hash H0 and one for the window hash H1 (Linux likewise keys its two
// cookie hashes separately).
const KeySize = 32

// Key is one cookie secret.
type Key [KeySize]byte

// RandomKey draws a key from crypto/rand, for the control plane.
func RandomKey() (Key, error) {
	var k Key
	_, err := rand.Read(k[:])
	return k, err
}

// Secrets holds the current cookie secret and the one before it, so a
// cookie issued just before a rotation still validates. It is a plain value:
// the control plane keeps its own, calls Rotate, and hands each worker a copy
// with the next table snapshot; a worker never reads a Secrets that is being
// written.
type Secrets struct {
	current, previous secret
	// Generation counts rotations (0 until the first Rotate), for metrics.
	Generation uint64
	// previousUntil is the last window in which the previous secret can
	// still have issued a valid cookie; hasPrevious says there is one.
	previousUntil uint32
	hasPrevious   bool
}

type secret struct{ base, window sipKey }

// NewSecrets returns secrets whose current key is key and that have no
// previous key.
func NewSecrets(key Key) Secrets {
	return Secrets{current: secretFrom(&key)}
}

// Rotate makes key the current secret and the current one the previous, at
// time now. The previous secret is tried only while a cookie it issued can
// still be young enough (MaxCookieAge windows, plus one for a worker whose
// batch clock lags the control plane's), so a flood of invalid ACKs costs
// one secret's hashes, not two, outside that span. Rotating more often than
// once per CookiePeriod would drop cookies still in flight.
func (s *Secrets) Rotate(key Key, now Now) {
	s.previous, s.hasPrevious = s.current, true
	s.previousUntil = now.Window + MaxCookieAge
	s.current = secretFrom(&key)
	s.Generation++
}

// previousValid reports whether the previous secret may have issued a valid
// cookie at window.
func (s *Secrets) previousValid(window uint32) bool {
	return s.hasPrevious && int32(s.previousUntil-window) >= 0
}

func secretFrom(k *Key) secret {
	return secret{
		base:   sipKey{binary.LittleEndian.Uint64(k[0:]), binary.LittleEndian.Uint64(k[8:])},
		window: sipKey{binary.LittleEndian.Uint64(k[16:]), binary.LittleEndian.Uint64(k[24:])},
	}
}

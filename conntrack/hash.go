package conntrack

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
)

// hashSeed keys every hash of a table. It is drawn from a cryptographic source (or derived from a fixed seed
// for tests), so remote clients, who choose the tuples, cannot aim them at one probe chain.
type hashSeed [3]uint64

// newSeed expands seed into a hashSeed, or draws one from crypto/rand when seed is 0.
func newSeed(seed uint64) hashSeed {
	var s hashSeed
	if seed == 0 {
		var b [24]byte
		rand.Read(b[:]) // never fails (it crashes the program rather than return weak bytes)
		for i := range s {
			s[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
		return s
	}
	for i := range s {
		seed += 0x9e3779b97f4a7c15 // splitmix64
		z := seed
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		s[i] = z ^ z>>31
	}
	return s
}

// mix folds the 128-bit product of x and y (a wyhash-style round: one multiply, full avalanche of both inputs).
func mix(x, y uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	return hi ^ lo
}

// hashTuple hashes the 37 key bytes in three multiply rounds. It allocates nothing and inlines.
func hashTuple(k *Tuple, s *hashSeed) uint64 {
	h := mix(binary.LittleEndian.Uint64(k.Src[0:8])^s[0], binary.LittleEndian.Uint64(k.Src[8:16])^s[1])
	h = mix(h^binary.LittleEndian.Uint64(k.Dst[0:8]), binary.LittleEndian.Uint64(k.Dst[8:16])^s[2])
	ports := uint64(k.SrcPort) | uint64(k.DstPort)<<16 | uint64(k.Proto)<<32
	return mix(h^ports^s[1], s[0]^0x9e3779b97f4a7c15)
}

// hashTemplate hashes a TemplateKey the same way.
func hashTemplate(k *TemplateKey, s *hashSeed) uint64 {
	h := mix(binary.LittleEndian.Uint64(k.Client[0:8])^s[0], binary.LittleEndian.Uint64(k.Client[8:16])^s[1])
	h = mix(h^binary.LittleEndian.Uint64(k.Virtual[0:8]), binary.LittleEndian.Uint64(k.Virtual[8:16])^s[2])
	rest := uint64(k.VirtualPort) | uint64(k.Proto)<<16
	return mix(h^rest^s[1], s[0]^0x9e3779b97f4a7c15)
}

// Hasher is a keyed hash of addresses for choices a remote client must not be able to aim, such as which worker
// owns a client. It is read-only after NewHasher: one Hasher shared by every worker gives them all the same answer.
type Hasher struct{ seed hashSeed }

// NewHasher returns a Hasher keyed from crypto/rand, or from seed when it is not 0 (tests).
func NewHasher(seed uint64) Hasher { return Hasher{seed: newSeed(seed)} }

// Addr hashes an address in netip.Addr.As16 form (mask it first for persistence). Two multiply rounds, no
// allocation; every output bit depends on every input bit, so any bits may be reduced modulo the worker count.
func (h *Hasher) Addr(a [16]byte) uint64 {
	x := mix(binary.LittleEndian.Uint64(a[0:8])^h.seed[0], binary.LittleEndian.Uint64(a[8:16])^h.seed[1])
	return mix(x^h.seed[2], h.seed[0]^0x9e3779b97f4a7c15)
}

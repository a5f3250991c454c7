package conntrack

import (
	"encoding/binary"
	"math/bits"
)

// hashSeed is drawn per table from a cryptographic source so that remote clients cannot aim tuples at one
// probe chain.
type hashSeed [3]uint64

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

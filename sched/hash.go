package sched

import "encoding/binary"

// Protocol numbers whose source port sh-port and mh-port hash (IPVS hashes ports only for these).
const (
	protoTCP  = 6
	protoUDP  = 17
	protoSCTP = 132
)

// hashedPort is the port that sh-port / mh-port feed into the hash: the source port for TCP, UDP and SCTP when the
// flag is set, otherwise 0.
func hashedPort(f *Flow, portFlag bool) uint16 {
	if !portFlag {
		return 0
	}
	switch f.Proto {
	case protoTCP, protoUDP, protoSCTP:
		return f.SrcPort
	}
	return 0
}

// foldAddress is IPVS's addr_fold in host order: the IPv4 address itself, or the XOR of an IPv6 address's four
// 32-bit words.
func foldAddress(addr *[16]byte) uint32 {
	if isIPv4Mapped(addr) {
		return binary.BigEndian.Uint32(addr[12:])
	}
	return binary.BigEndian.Uint32(addr[0:]) ^ binary.BigEndian.Uint32(addr[4:]) ^
		binary.BigEndian.Uint32(addr[8:]) ^ binary.BigEndian.Uint32(addr[12:])
}

func isIPv4Mapped(addr *[16]byte) bool {
	return binary.BigEndian.Uint64(addr[0:]) == 0 && binary.BigEndian.Uint32(addr[8:]) == 0xffff
}

// mix64 is the splitmix64 finaliser: a bijection whose every output bit depends on every input bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashEndpoint hashes an address and port under a seed. It is fixed (no per-process key) so that every director
// computes the same value: the basis of identical Maglev tables and lookups across an ECMP group.
func hashEndpoint(addr *[16]byte, port uint16, seed uint64) uint64 {
	h := mix64(seed ^ 0x9e3779b97f4a7c15)
	h = mix64(h ^ binary.BigEndian.Uint64(addr[0:]))
	h = mix64(h ^ binary.BigEndian.Uint64(addr[8:]))
	return mix64(h ^ uint64(port))
}

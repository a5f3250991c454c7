package header

import "encoding/binary"

// v4InV6Prefix is the ::ffff:0:0/96 prefix of v4-mapped addresses (RFC 4291
// section 2.5.5.2), the form netip.Addr.As16 gives an IPv4 address.
var v4InV6Prefix = [12]byte{10: 0xff, 11: 0xff}

// As16From4 returns the v4-mapped 16-byte form of an IPv4 address.
func As16From4(a [4]byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// putAs16From4 writes the v4-mapped form of the IPv4 address in a[:4] into
// dst as two 8-byte stores. As16From4's value is assembled byte by byte and
// copied out with one 16-byte load, which the CPU cannot forward from the
// byte stores: a stall of a dozen cycles per address on every parse. Read
// dst back in 8-byte words too (see CopyAddr).
func putAs16From4(dst *[16]byte, a []byte) {
	binary.LittleEndian.PutUint64(dst[:8], 0)
	binary.BigEndian.PutUint64(dst[8:], 0xffff<<32|uint64(binary.BigEndian.Uint32(a)))
}

// CopyAddr copies a 16-byte address as two 8-byte words, so that a copy
// made just after Parse wrote src is forwarded from its stores instead of
// waiting for them to reach the cache.
func CopyAddr(dst, src *[16]byte) {
	binary.LittleEndian.PutUint64(dst[:8], binary.LittleEndian.Uint64(src[:8]))
	binary.LittleEndian.PutUint64(dst[8:], binary.LittleEndian.Uint64(src[8:]))
}

// Is4 reports whether a is a v4-mapped IPv4 address.
func Is4(a *[16]byte) bool {
	return [12]byte(a[:12]) == v4InV6Prefix
}

// Unmap4 returns the IPv4 address inside a v4-mapped address. It does not
// check that a is v4-mapped; see Is4.
func Unmap4(a *[16]byte) [4]byte {
	return [4]byte(a[12:16])
}

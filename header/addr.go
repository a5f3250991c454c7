package header

// v4InV6Prefix is the ::ffff:0:0/96 prefix of v4-mapped addresses (RFC 4291
// section 2.5.5.2), the form netip.Addr.As16 gives an IPv4 address.
var v4InV6Prefix = [12]byte{10: 0xff, 11: 0xff}

// As16From4 returns the v4-mapped 16-byte form of an IPv4 address.
func As16From4(a [4]byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
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

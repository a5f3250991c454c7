package seqadj

import (
	"encoding/binary"
	"math/bits"

	"fastlvs/header"
)

// checksumDelta collects the RFC 1624 changes of several rewritten fields so
// the checksum is folded and stored once.
//
// RFC 1624 section 3, eqn. 3: HC' = ~(~HC + ~m + m'), summed over every
// changed 16-bit word m. A field at an odd offset (a SACK block or timestamp
// after a lone NOP) straddles the checksum's words; RFC 1071 section 2(B)
// ("byte order independence") lets it be summed in its own byte order and
// the folded result byte-swapped into place.
type checksumDelta struct{ even, odd uint64 }

// put32 writes v at b[off:] and records the change.
func (d *checksumDelta) put32(b []byte, off int, v uint32) {
	old := binary.BigEndian.Uint32(b[off:])
	if old == v {
		return
	}
	binary.BigEndian.PutUint32(b[off:], v)
	s := uint64(^uint16(old>>16)) + uint64(^uint16(old)) + uint64(uint16(v>>16)) + uint64(uint16(v))
	if off&1 == 0 {
		d.even += s
	} else {
		d.odd += s
	}
}

// put16 writes v at the even offset off and records the change.
func (d *checksumDelta) put16(b []byte, off int, v uint16) {
	old := binary.BigEndian.Uint16(b[off:])
	if old == v {
		return
	}
	binary.BigEndian.PutUint16(b[off:], v)
	d.even += uint64(^old) + uint64(v)
}

// apply stores the updated checksum in tcp.
func (d *checksumDelta) apply(tcp header.TCP) {
	if d.even == 0 && d.odd == 0 {
		return
	}
	sum := uint64(^tcp.Checksum()) + d.even + uint64(bits.ReverseBytes16(header.ChecksumFold(d.odd)))
	tcp.SetChecksum(^header.ChecksumFold(sum))
}

package seqadj

import "encoding/binary"

// PackedSize is the size of an Adjust packed for a connection record.
const PackedSize = 14

// Pack writes a into b without padding (a connection record keeps it in
// spare bytes).
func (a *Adjust) Pack(b *[PackedSize]byte) {
	binary.LittleEndian.PutUint32(b[0:], a.ClientSeq)
	binary.LittleEndian.PutUint32(b[4:], a.ServerSeq)
	binary.LittleEndian.PutUint32(b[8:], a.ServerTS)
	b[12], b[13] = byte(a.ToClientWindowShift), byte(a.ToServerWindowShift)
}

// Unpack reads an Adjust that Pack wrote.
func Unpack(b *[PackedSize]byte) Adjust {
	return Adjust{
		ClientSeq:           binary.LittleEndian.Uint32(b[0:]),
		ServerSeq:           binary.LittleEndian.Uint32(b[4:]),
		ServerTS:            binary.LittleEndian.Uint32(b[8:]),
		ToClientWindowShift: int8(b[12]),
		ToServerWindowShift: int8(b[13]),
	}
}

package header

import "encoding/binary"

// IEEE 802.1Q tag, as it follows the TPID (0x8100 or 0x88a8) that took the
// place of the EtherType:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| PCP |D|      VLAN ID          |      Encapsulated EtherType   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	vlanTCI  = 0
	vlanType = 2
)

// VLANSize is the size of one VLAN tag after the TPID.
const VLANSize = 4

// VLAN is a view of a 4-byte VLAN tag (the bytes after the TPID). It must be
// at least VLANSize bytes long; methods do not check.
type VLAN []byte

// ID returns the 12-bit VLAN identifier.
func (b VLAN) ID() uint16 { return binary.BigEndian.Uint16(b[vlanTCI:]) & 0x0fff }

// Priority returns the 3-bit priority code point.
func (b VLAN) Priority() uint8 { return b[vlanTCI] >> 5 }

// Type returns the EtherType of what follows the tag (another TPID for QinQ).
func (b VLAN) Type() uint16 { return binary.BigEndian.Uint16(b[vlanType:]) }

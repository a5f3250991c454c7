package header

import "encoding/binary"

// MAC is an Ethernet hardware address.
type MAC [6]byte

// String returns the address as six colon-separated hex bytes, for debugging.
func (m MAC) String() string {
	const digits = "0123456789abcdef"
	var s [17]byte
	for i, v := range m {
		if i > 0 {
			s[3*i-1] = ':'
		}
		s[3*i] = digits[v>>4]
		s[3*i+1] = digits[v&0xf]
	}
	return string(s[:])
}

// EtherType values the dataplane looks at.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100 // IEEE 802.1Q customer tag
	EtherTypeIPv6 = 0x86dd
	EtherTypeQinQ = 0x88a8 // IEEE 802.1ad service tag
)

// Ethernet II header (IEEE 802.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination MAC Address                    |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                       Source MAC Address                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           EtherType           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ethDstAddr = 0
	ethSrcAddr = 6
	ethType    = 12
)

// EthernetMinimumSize is the size of an untagged Ethernet II header.
const EthernetMinimumSize = 14

// Ethernet is a view of an Ethernet II header. It must be at least
// EthernetMinimumSize bytes long; methods do not check.
type Ethernet []byte

// DestinationAddress returns the destination MAC address.
func (b Ethernet) DestinationAddress() MAC { return MAC(b[ethDstAddr : ethDstAddr+6]) }

// SourceAddress returns the source MAC address.
func (b Ethernet) SourceAddress() MAC { return MAC(b[ethSrcAddr : ethSrcAddr+6]) }

// SetDestinationAddress sets the destination MAC address.
func (b Ethernet) SetDestinationAddress(m MAC) { copy(b[ethDstAddr:ethDstAddr+6], m[:]) }

// SetSourceAddress sets the source MAC address.
func (b Ethernet) SetSourceAddress(m MAC) { copy(b[ethSrcAddr:ethSrcAddr+6], m[:]) }

// Readdress points the frame at its next hop: destination dst, source src
// (the egress port's own address).
func (b Ethernet) Readdress(dst, src MAC) {
	b.SetDestinationAddress(dst)
	b.SetSourceAddress(src)
}

// Type returns the EtherType field (a VLAN TPID if the frame is tagged).
func (b Ethernet) Type() uint16 { return binary.BigEndian.Uint16(b[ethType:]) }

// SetType sets the EtherType field.
func (b Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(b[ethType:], t) }

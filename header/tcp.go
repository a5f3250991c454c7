package header

import "encoding/binary"

// TCP header (RFC 9293 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           [Options]                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	tcpSrcPort    = 0
	tcpDstPort    = 2
	tcpSeqNum     = 4
	tcpAckNum     = 8
	tcpDataOffset = 12
	tcpFlags      = 13
	tcpWindow     = 14
	tcpChecksum   = 16
	tcpUrgentPtr  = 18
)

// TCPMinimumSize is the size of a TCP header without options.
const TCPMinimumSize = 20

// TCP flag bits as returned by Flags.
const (
	TCPFlagFin = 1 << 0
	TCPFlagSyn = 1 << 1
	TCPFlagRst = 1 << 2
	TCPFlagPsh = 1 << 3
	TCPFlagAck = 1 << 4
	TCPFlagUrg = 1 << 5
	TCPFlagEce = 1 << 6
	TCPFlagCwr = 1 << 7
)

// TCP option kinds (RFC 9293 section 3.2).
const (
	tcpOptionEOL    = 0
	tcpOptionNOP    = 1
	tcpOptionMSS    = 2
	tcpOptionMSSLen = 4
)

// TCP is a view of a TCP segment (header and payload). Call IsValid first;
// the other methods do not check bounds.
type TCP []byte

// IsValid reports whether b holds a TCP header for a segment of segLen bytes
// (segLen <= len(b)): at least 20 bytes, with a data offset of at least 20
// that fits in segLen.
func (b TCP) IsValid(segLen int) bool {
	if len(b) < TCPMinimumSize || segLen > len(b) || segLen < TCPMinimumSize {
		return false
	}
	off := b.DataOffset()
	return off >= TCPMinimumSize && off <= segLen
}

// SourcePort returns the source port.
func (b TCP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[tcpSrcPort:]) }

// DestinationPort returns the destination port.
func (b TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[tcpDstPort:]) }

// SequenceNumber returns the sequence number.
func (b TCP) SequenceNumber() uint32 { return binary.BigEndian.Uint32(b[tcpSeqNum:]) }

// AckNumber returns the acknowledgment number.
func (b TCP) AckNumber() uint32 { return binary.BigEndian.Uint32(b[tcpAckNum:]) }

// DataOffset returns the header length in bytes.
func (b TCP) DataOffset() int { return int(b[tcpDataOffset]>>4) * 4 }

// Flags returns the flag byte (TCPFlagFin ... TCPFlagCwr).
func (b TCP) Flags() uint8 { return b[tcpFlags] }

// WindowSize returns the window field.
func (b TCP) WindowSize() uint16 { return binary.BigEndian.Uint16(b[tcpWindow:]) }

// UrgentPointer returns the urgent pointer.
func (b TCP) UrgentPointer() uint16 { return binary.BigEndian.Uint16(b[tcpUrgentPtr:]) }

// SetSourcePort sets the source port without updating the checksum.
func (b TCP) SetSourcePort(port uint16) { binary.BigEndian.PutUint16(b[tcpSrcPort:], port) }

// SetDestinationPort sets the destination port without updating the checksum.
func (b TCP) SetDestinationPort(port uint16) { binary.BigEndian.PutUint16(b[tcpDstPort:], port) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[tcpChecksum:]) }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[tcpChecksum:], c) }

// SetSourcePortWithChecksumUpdate sets the source port and updates the
// checksum incrementally.
func (b TCP) SetSourcePortWithChecksumUpdate(port uint16) {
	b.SetChecksum(ChecksumUpdateUint16(b.Checksum(), b.SourcePort(), port))
	binary.BigEndian.PutUint16(b[tcpSrcPort:], port)
}

// SetDestinationPortWithChecksumUpdate sets the destination port and updates
// the checksum incrementally.
func (b TCP) SetDestinationPortWithChecksumUpdate(port uint16) {
	b.SetChecksum(ChecksumUpdateUint16(b.Checksum(), b.DestinationPort(), port))
	binary.BigEndian.PutUint16(b[tcpDstPort:], port)
}

// SetSequenceNumberWithChecksumUpdate sets the sequence number and updates
// the checksum incrementally (SYN proxy, sequence translation).
func (b TCP) SetSequenceNumberWithChecksumUpdate(seq uint32) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], seq)
	b.SetChecksum(ChecksumUpdate2ByteAligned(b.Checksum(), b[tcpSeqNum:tcpSeqNum+4], n[:]))
	copy(b[tcpSeqNum:tcpSeqNum+4], n[:])
}

// SetAckNumberWithChecksumUpdate sets the acknowledgment number and updates
// the checksum incrementally.
func (b TCP) SetAckNumberWithChecksumUpdate(ack uint32) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], ack)
	b.SetChecksum(ChecksumUpdate2ByteAligned(b.Checksum(), b[tcpAckNum:tcpAckNum+4], n[:]))
	copy(b[tcpAckNum:tcpAckNum+4], n[:])
}

// UpdateChecksumPseudoHeaderAddress updates the checksum after an address in
// the pseudo-header changed from old to new (both 4 or both 16 bytes). Call
// it alongside the IP address setter; it does not touch the IP header.
func (b TCP) UpdateChecksumPseudoHeaderAddress(old, new []byte) {
	b.SetChecksum(ChecksumUpdate2ByteAligned(b.Checksum(), old, new))
}

// Options returns the option bytes between the fixed header and the data.
func (b TCP) Options() []byte { return b[TCPMinimumSize:b.DataOffset()] }

// Payload returns the data after the header.
func (b TCP) Payload() []byte { return b[b.DataOffset():] }

// MSS returns the value of the maximum segment size option, if present and
// well formed. Malformed options end the scan.
func (b TCP) MSS() (uint16, bool) {
	off := b.mssOptionOffset()
	if off < 0 {
		return 0, false
	}
	return binary.BigEndian.Uint16(b[off+2:]), true
}

// SetMSSWithChecksumUpdate rewrites an existing MSS option (MSS clamping for
// tunnels) and updates the checksum. It reports false if there is no MSS
// option.
func (b TCP) SetMSSWithChecksumUpdate(mss uint16) bool {
	off := b.mssOptionOffset()
	if off < 0 {
		return false
	}
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], mss)
	field := b[off+2 : off+4]
	if off%2 == 0 {
		b.SetChecksum(ChecksumUpdateUint16(b.Checksum(), binary.BigEndian.Uint16(field), mss))
	} else {
		// The value straddles two checksum words: update the 4 aligned bytes
		// that hold it.
		var w [4]byte
		word := b[off+1 : off+5]
		copy(w[:], word)
		copy(w[1:3], n[:])
		b.SetChecksum(ChecksumUpdate2ByteAligned(b.Checksum(), word, w[:]))
	}
	copy(field, n[:])
	return true
}

// mssOptionOffset returns the offset of the MSS option in b, or -1.
func (b TCP) mssOptionOffset() int {
	end := b.DataOffset()
	for i := TCPMinimumSize; i < end; {
		switch b[i] {
		case tcpOptionEOL:
			return -1
		case tcpOptionNOP:
			i++
			continue
		}
		if i+1 >= end {
			return -1
		}
		l := int(b[i+1])
		if l < 2 || i+l > end {
			return -1
		}
		if b[i] == tcpOptionMSS {
			if l != tcpOptionMSSLen {
				return -1
			}
			return i
		}
		i += l
	}
	return -1
}

// CalculateChecksum returns the value the checksum field should hold, summed
// over the whole view (header and payload) as if the field were zero, plus
// pseudo = PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(b))). It
// reads every payload byte: for tests and slow paths only.
func (b TCP) CalculateChecksum(pseudo uint16) uint16 {
	xsum := Checksum(b[:tcpChecksum], pseudo)
	return ^Checksum(b[tcpChecksum+2:], xsum)
}

// TCPFields describes a TCP header for Encode.
type TCPFields struct {
	SrcPort, DstPort uint16
	SeqNum, AckNum   uint32
	DataOffset       int // header length in bytes, options included: a multiple of 4 from 20 to 60
	Flags            uint8
	WindowSize       uint16
	UrgentPointer    uint16
}

// Encode writes the fixed 20-byte header from f into b with a zero checksum;
// the caller writes the options and then the checksum. b must be at least
// TCPMinimumSize bytes long.
func (b TCP) Encode(f *TCPFields) {
	binary.BigEndian.PutUint16(b[tcpSrcPort:], f.SrcPort)
	binary.BigEndian.PutUint16(b[tcpDstPort:], f.DstPort)
	binary.BigEndian.PutUint32(b[tcpSeqNum:], f.SeqNum)
	binary.BigEndian.PutUint32(b[tcpAckNum:], f.AckNum)
	b[tcpDataOffset] = uint8(f.DataOffset/4) << 4
	b[tcpFlags] = f.Flags
	binary.BigEndian.PutUint16(b[tcpWindow:], f.WindowSize)
	binary.BigEndian.PutUint16(b[tcpChecksum:], 0)
	binary.BigEndian.PutUint16(b[tcpUrgentPtr:], f.UrgentPointer)
}

// SetWindowSizeWithChecksumUpdate sets the window field and updates the
// checksum incrementally.
func (b TCP) SetWindowSizeWithChecksumUpdate(w uint16) {
	b.SetChecksum(ChecksumUpdateUint16(b.Checksum(), b.WindowSize(), w))
	binary.BigEndian.PutUint16(b[tcpWindow:], w)
}

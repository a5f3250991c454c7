package header

import "encoding/binary"

// TCP option kinds and lengths beyond MSS (RFC 7323 window scale and
// timestamps, RFC 2018 SACK).
const (
	TCPOptionEOL              = tcpOptionEOL
	TCPOptionNOP              = tcpOptionNOP
	TCPOptionMSS              = tcpOptionMSS
	TCPOptionWindowScale      = 3
	TCPOptionSACKPermitted    = 4
	TCPOptionSACK             = 5
	TCPOptionTimestamp        = 8
	TCPOptionMSSLength        = tcpOptionMSSLen
	TCPOptionWindowScaleLen   = 3
	TCPOptionSACKPermittedLen = 2
	TCPOptionTimestampLen     = 10
	TCPSACKBlockSize          = 8
)

// TCPMaxWindowScale is the largest shift RFC 7323 section 2.3 allows; larger
// values are used as 14.
const TCPMaxWindowScale = 14

// TCPOptions is the summary of the options of one segment that a SYN proxy
// and a sequence translator need. Offsets are from the start of the TCP
// header, so a caller can rewrite a field in place.
type TCPOptions struct {
	MSS           uint16
	HasMSS        bool
	WindowScale   uint8 // as sent (not capped at 14)
	HasWScale     bool
	SACKPermitted bool
	HasTimestamp  bool
	TSVal, TSEcr  uint32
	TimestampOff  int // offset of the TSval field (TSecr follows it)
	SACKOff       int // offset of the first SACK block, if SACKBlocks > 0
	SACKBlocks    int
}

// ParseOptions fills o from the options of b; IsValid must hold. Like
// Linux's tcp_parse_options, a malformed option (a length below 2 or past
// the header) ends the scan and it and everything after it are absent; a
// known kind with the wrong length is skipped as absent. It never reads
// past the header and never allocates.
func (b TCP) ParseOptions(o *TCPOptions) {
	*o = TCPOptions{}
	end := b.DataOffset()
	for i := TCPMinimumSize; i < end; {
		kind := b[i]
		if kind == TCPOptionEOL {
			return
		}
		if kind == TCPOptionNOP {
			i++
			continue
		}
		if i+1 >= end {
			return
		}
		l := int(b[i+1])
		if l < 2 || i+l > end {
			return
		}
		o.record(b, kind, i, l)
		i += l
	}
}

func (o *TCPOptions) record(b TCP, kind uint8, i, l int) {
	switch {
	case kind == TCPOptionMSS && l == TCPOptionMSSLength:
		o.MSS, o.HasMSS = binary.BigEndian.Uint16(b[i+2:]), true
	case kind == TCPOptionWindowScale && l == TCPOptionWindowScaleLen:
		o.WindowScale, o.HasWScale = b[i+2], true
	case kind == TCPOptionSACKPermitted && l == TCPOptionSACKPermittedLen:
		o.SACKPermitted = true
	case kind == TCPOptionTimestamp && l == TCPOptionTimestampLen:
		o.HasTimestamp = true
		o.TimestampOff = i + 2
		o.TSVal = binary.BigEndian.Uint32(b[i+2:])
		o.TSEcr = binary.BigEndian.Uint32(b[i+6:])
	case kind == TCPOptionSACK && l >= 2+TCPSACKBlockSize && (l-2)%TCPSACKBlockSize == 0:
		o.SACKOff = i + 2
		o.SACKBlocks = (l - 2) / TCPSACKBlockSize
	}
}

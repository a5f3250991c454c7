package seqadj

import (
	"encoding/binary"

	"fastlvs/header"
)

// Adjust maps one connection's two sequence spaces and the server's
// timestamp clock between the ends. All arithmetic is modulo 2^32.
type Adjust struct {
	// ClientSeq is what the server sees added to the client's sequence
	// numbers (a PROXY header of n bytes inserted toward the server: n).
	ClientSeq uint32
	// ServerSeq is what the client sees added to the server's sequence
	// numbers (SYN proxy: cookie ISN - server ISN).
	ServerSeq uint32
	// ServerTS is what the client sees added to the server's TSvals (SYN
	// proxy: the SYN/ACK's TSval - the server's SYN/ACK TSval).
	ServerTS uint32
	// ToClientWindowShift rescales the server's windows for the client: a
	// positive value shifts left (saturating at 0xffff), a negative one
	// right. It is the server's window scale minus the one the client was
	// promised.
	ToClientWindowShift int8
	// ToServerWindowShift likewise rescales the client's windows for the
	// server.
	ToServerWindowShift int8
}

// IsZero reports whether a changes nothing.
func (a *Adjust) IsZero() bool { return *a == Adjust{} }

// ToServer adjusts a client→server segment in place: its sequence number
// into the server's view of the client's space, its acknowledgement and
// SACK blocks (which name the server's space) back into the server's, its
// TSecr back into the server's clock, and its window. tcp is a valid TCP
// view (Packet.TCP after ParseOK).
func (a *Adjust) ToServer(tcp header.TCP) {
	a.apply(tcp, a.ClientSeq, a.ServerSeq, -a.ServerTS, 0, a.ToServerWindowShift)
}

// ToClient adjusts a server→client segment in place: its sequence number
// into the client's view, its acknowledgement and SACK blocks (which name
// the client's space) back into the client's, its TSval into the clock the
// client saw in the SYN/ACK, and its window.
func (a *Adjust) ToClient(tcp header.TCP) {
	a.apply(tcp, a.ServerSeq, a.ClientSeq, 0, a.ServerTS, a.ToClientWindowShift)
}

// apply adds seqDelta to the sequence number, subtracts ackDelta from the
// acknowledgement and SACK edges, adds tsEcrDelta to TSecr and tsValDelta to
// TSval, and rescales the window by shift.
func (a *Adjust) apply(tcp header.TCP, seqDelta, ackDelta, tsEcrDelta, tsValDelta uint32, shift int8) {
	var sum checksumDelta
	flags := tcp.Flags()
	hasAck := flags&header.TCPFlagAck != 0
	if seqDelta != 0 {
		sum.put32(tcp, tcpSeqNum, tcp.SequenceNumber()+seqDelta)
	}
	if ackDelta != 0 && hasAck {
		sum.put32(tcp, tcpAckNum, tcp.AckNumber()-ackDelta)
	}
	// A SYN's window is never scaled (RFC 7323 section 2.2).
	if shift != 0 && flags&header.TCPFlagSyn == 0 {
		sum.put16(tcp, tcpWindow, RescaleWindow(tcp.WindowSize(), shift))
	}
	if tcp.DataOffset() > header.TCPMinimumSize && (ackDelta != 0 || tsEcrDelta != 0 || tsValDelta != 0) {
		var o header.TCPOptions
		parseOptions(tcp, &o)
		if o.HasTimestamp {
			if tsValDelta != 0 {
				sum.put32(tcp, o.TimestampOff, o.TSVal+tsValDelta)
			}
			if tsEcrDelta != 0 && hasAck {
				sum.put32(tcp, o.TimestampOff+4, o.TSEcr+tsEcrDelta)
			}
		}
		if ackDelta != 0 && hasAck {
			for i := range o.SACKBlocks {
				edge := o.SACKOff + i*header.TCPSACKBlockSize
				sum.put32(tcp, edge, binary.BigEndian.Uint32(tcp[edge:])-ackDelta)
				sum.put32(tcp, edge+4, binary.BigEndian.Uint32(tcp[edge+4:])-ackDelta)
			}
		}
	}
	sum.apply(tcp)
}

// linuxTimestampOptions is the option block Linux puts on every established
// segment without SACK blocks: NOP, NOP, timestamp.
const linuxTimestampOptions = header.TCPOptionNOP<<24 | header.TCPOptionNOP<<16 |
	header.TCPOptionTimestamp<<8 | header.TCPOptionTimestampLen

// parseOptions is tcp.ParseOptions with a fast path for the common layout.
func parseOptions(tcp header.TCP, o *header.TCPOptions) {
	if tcp.DataOffset() == header.TCPMinimumSize+12 && binary.BigEndian.Uint32(tcp[header.TCPMinimumSize:]) == linuxTimestampOptions {
		const off = header.TCPMinimumSize + 4
		*o = header.TCPOptions{HasTimestamp: true, TimestampOff: off,
			TSVal: binary.BigEndian.Uint32(tcp[off:]), TSEcr: binary.BigEndian.Uint32(tcp[off+4:])}
		return
	}
	tcp.ParseOptions(o)
}

// Offsets of the rewritten fields in the TCP header (RFC 9293 section 3.1).
const (
	tcpSeqNum = 4
	tcpAckNum = 8
	tcpWindow = 14
)

// RescaleWindow returns the window w shifted by shift: left saturating at 0xffff,
// or right (rounding down: never promise more than the receiver offered).
func RescaleWindow(w uint16, shift int8) uint16 {
	if shift < 0 {
		return w >> uint(-shift)
	}
	v := uint32(w) << uint(shift)
	return uint16(min(v, 0xffff))
}

package synproxy

import (
	"encoding/binary"

	"fastlvs/header"
)

// handshakeOptions are the options a SYN, SYN/ACK or handshake ACK that the
// proxy writes carries.
type handshakeOptions struct {
	mss          uint16 // 0: no MSS option
	wscaleOK     bool
	wscale       uint8
	sackOK       bool
	timestamps   bool
	tsVal, tsEcr uint32
}

// size returns the option block length, a multiple of 4.
func (o *handshakeOptions) size() int {
	n := 0
	if o.mss != 0 {
		n += 4
	}
	if o.timestamps {
		n += 12 // SACK-permitted or two NOPs, then the timestamp
	} else if o.sackOK {
		n += 4
	}
	if o.wscaleOK {
		n += 4
	}
	return n
}

// write writes the options into b (at least size() bytes) in the layout
// Linux sends, each option 4-byte aligned, and returns the length.
func (o *handshakeOptions) write(b []byte) int {
	n := 0
	if o.mss != 0 {
		b[0], b[1] = header.TCPOptionMSS, header.TCPOptionMSSLength
		binary.BigEndian.PutUint16(b[2:], o.mss)
		n = 4
	}
	switch {
	case o.timestamps:
		if o.sackOK {
			b[n], b[n+1] = header.TCPOptionSACKPermitted, header.TCPOptionSACKPermittedLen
		} else {
			b[n], b[n+1] = header.TCPOptionNOP, header.TCPOptionNOP
		}
		b[n+2], b[n+3] = header.TCPOptionTimestamp, header.TCPOptionTimestampLen
		binary.BigEndian.PutUint32(b[n+4:], o.tsVal)
		binary.BigEndian.PutUint32(b[n+8:], o.tsEcr)
		n += 12
	case o.sackOK:
		b[n], b[n+1] = header.TCPOptionNOP, header.TCPOptionNOP
		b[n+2], b[n+3] = header.TCPOptionSACKPermitted, header.TCPOptionSACKPermittedLen
		n += 4
	}
	if o.wscaleOK {
		b[n] = header.TCPOptionNOP
		b[n+1], b[n+2], b[n+3] = header.TCPOptionWindowScale, header.TCPOptionWindowScaleLen, o.wscale
		n += 4
	}
	return n
}

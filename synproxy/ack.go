package synproxy

import "fastlvs/header"

// Handshake is what a validated cookie ACK tells about the client's SYN: all
// the worker keeps with the connection until the real server answers.
type Handshake struct {
	ClientISN uint32 // the client's initial sequence number (its SYN's)
	CookieISN uint32 // the director's initial sequence number (the cookie)
	MSS       uint16 // the client's MSS, rounded down to the cookie's table
	// WScaleOK says window scaling was negotiated with the client: the
	// client shifts its windows by WScale and reads the director's as
	// shifted by ProxyWindowScale.
	WScaleOK   bool
	WScale     uint8
	SACKOK     bool
	Timestamps bool
	ECN        bool
	// ClientTSVal is the TSval of the client's ACK, ProxyTSVal its TSecr
	// (the SYN/ACK's TSval, in the director's clock).
	ClientTSVal, ProxyTSVal uint32
	// ClientWindow is the window field of the client's ACK (scaled by
	// WScale if WScaleOK).
	ClientWindow uint16
}

// CheckACK validates the client's ACK (or first data segment) in p against
// the cookie it acknowledges and recovers the handshake. p must be a ParseOK
// TCP packet; it is not modified. An ACK that does not validate is
// InvalidCookie: forged, tampered with, or older than MaxCookieAge windows.
func CheckACK(p *header.Packet, s *Secrets, now Now) (Handshake, Result) {
	tcp := p.TCP()
	if tcp.Flags()&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst) != header.TCPFlagAck {
		return Handshake{}, NotACK
	}
	flow := Flow{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}
	clientISN := tcp.SequenceNumber() - 1
	cookie := tcp.AckNumber() - 1
	mssIndex, ok := s.CheckCookie(&flow, clientISN, cookie, now)
	if !ok {
		return Handshake{}, InvalidCookie
	}
	hs := Handshake{
		ClientISN:    clientISN,
		CookieISN:    cookie,
		MSS:          MSSAt(mssIndex, p.IsIPv6),
		ClientWindow: tcp.WindowSize(),
	}
	var o header.TCPOptions
	tcp.ParseOptions(&o)
	// Without a timestamp echo the SYN/ACK offered neither window scaling
	// nor SACK (Linux's cookie_timestamp_decode).
	if o.HasTimestamp {
		hs.Timestamps = true
		hs.ClientTSVal, hs.ProxyTSVal = o.TSVal, o.TSEcr
		if ws := o.TSEcr & tsOptWScaleMask; ws != tsOptWScaleMask {
			hs.WScaleOK, hs.WScale = true, uint8(min(ws, header.TCPMaxWindowScale))
		}
		hs.SACKOK = o.TSEcr&tsOptSACK != 0
		hs.ECN = o.TSEcr&tsOptECN != 0
	}
	return hs, OK
}

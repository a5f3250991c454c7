package synproxy

import (
	"encoding/binary"

	"fastlvs/header"
)

// Cookie layout, as Linux's net/ipv4/syncookies.c builds it, with one
// change:
//
//	cookie = H0(flow) + clientISN + window<<24 + (H1(flow, window, mssIndex)<<2 | mssIndex) mod 2^24
//
// H0 hides the window counter in the top 8 bits; the check strips H0 and
// the client's ISN, reads the window and the MSS index, and accepts only if
// the middle 22 bits match H1 of that window and index. Linux adds the index
// to H1 instead, so a cookie with its low bits lowered (or an ACK with a
// slightly higher ISN) still validates with a smaller MSS; binding the index
// into H1 rejects every such tampering at the same cost, one hash per check.
const (
	cookieBits    = 24
	cookieMask    = 1<<cookieBits - 1
	mssIndexBits  = 2
	mssIndexMask  = 1<<mssIndexBits - 1
	windowCounter = 1<<(32-cookieBits) - 1
)

// CookiePeriod is the length of one cookie time window in nanoseconds
// (Linux's TCP_SYNCOOKIE_PERIOD, one minute).
const CookiePeriod = 60_000_000_000

// MaxCookieAge is how many windows a cookie stays valid: one issued in
// window w validates in w and w+1 (Linux's MAX_SYNCOOKIE_AGE).
const MaxCookieAge = 2

// Now is the time a worker reads once per batch: the cookie window counter
// and the millisecond timestamp clock of the SYN/ACK's TSval.
type Now struct {
	Window   uint32
	TSMillis uint32
}

// NowAt converts a monotonic clock reading in nanoseconds to Now.
func NowAt(monoNanos int64) Now {
	return Now{Window: uint32(monoNanos / CookiePeriod), TSMillis: uint32(monoNanos / 1_000_000)}
}

// MSS values a cookie can carry, chosen like Linux's msstab (the most common
// values seen on the internet; IPv6 ones are common MTUs minus 60 bytes).
// Sorted ascending; a client's MSS is rounded down to an entry.
var (
	mssTable4 = [NumMSSIndexes]uint16{536, 1300, 1440, 1460}
	mssTable6 = [NumMSSIndexes]uint16{1220, 1420, 1440, 8940}
)

// NumMSSIndexes is how many MSS values a cookie can carry.
const NumMSSIndexes = 4

// Default MSS when a SYN carries none (RFC 9293 section 3.7.1; RFC 8200
// section 8.3).
const (
	defaultMSS4 = 536
	defaultMSS6 = 1220
)

// MSSIndex returns the index of the largest table MSS not above mss (0 if
// mss is below every entry).
func MSSIndex(mss uint16, ipv6 bool) int {
	table := mssTableFor(ipv6)
	for i := len(table) - 1; i > 0; i-- {
		if mss >= table[i] {
			return i
		}
	}
	return 0
}

// MSSAt returns the MSS a cookie's index stands for.
func MSSAt(index int, ipv6 bool) uint16 { return mssTableFor(ipv6)[index] }

func mssTableFor(ipv6 bool) *[NumMSSIndexes]uint16 {
	if ipv6 {
		return &mssTable6
	}
	return &mssTable4
}

// Flow is a connection as the client addressed it: client address and port
// as source, VIP and port as destination. Addresses are in As16 form.
type Flow struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
}

// IsIPv6 reports whether the flow's addresses are IPv6.
func (f *Flow) IsIPv6() bool { return !header.Is4(&f.Src) }

// Cookie returns the initial sequence number for the SYN/ACK answering a SYN
// of flow f with sequence number clientISN, carrying mssIndex (0 <= mssIndex
// < NumMSSIndexes) under the current secret.
func (s *Secrets) Cookie(f *Flow, clientISN uint32, mssIndex int, now Now) uint32 {
	sec := &s.current
	return sec.hash(&sec.base, f, 0, 0) + clientISN + now.Window<<cookieBits + sec.low(f, now.Window, uint32(mssIndex))
}

// CheckCookie reports whether cookie is a valid answer to a SYN of flow f
// with sequence number clientISN, issued under the current or the previous
// secret no more than MaxCookieAge windows ago, and returns the MSS index it
// carries.
func (s *Secrets) CheckCookie(f *Flow, clientISN, cookie uint32, now Now) (mssIndex int, ok bool) {
	if i, ok := s.current.check(f, clientISN, cookie, now.Window); ok {
		return i, true
	}
	if s.hasPrevious {
		return s.previous.check(f, clientISN, cookie, now.Window)
	}
	return 0, false
}

func (sec *secret) check(f *Flow, clientISN, cookie, window uint32) (int, bool) {
	c := cookie - (sec.hash(&sec.base, f, 0, 0) + clientISN)
	age := (window - c>>cookieBits) & windowCounter
	if age >= MaxCookieAge {
		return 0, false
	}
	index := c & mssIndexMask
	if c&cookieMask != sec.low(f, window-age, index) {
		return 0, false
	}
	return int(index), true
}

// low returns the cookie's low 24 bits: 22 bits of H1 and the MSS index.
func (sec *secret) low(f *Flow, window, mssIndex uint32) uint32 {
	return (sec.hash(&sec.window, f, window, uint8(mssIndex))<<mssIndexBits | mssIndex) & cookieMask
}

// hash is Linux's cookie_hash with SipHash-2-4: a keyed hash of the flow's
// addresses, ports, count and MSS index, truncated to 32 bits.
func (sec *secret) hash(key *sipKey, f *Flow, count uint32, mssIndex uint8) uint32 {
	var msg [41]byte
	n := 0
	if header.Is4(&f.Src) {
		copy(msg[0:4], f.Src[12:])
		copy(msg[4:8], f.Dst[12:])
		n = 8
	} else {
		copy(msg[0:16], f.Src[:])
		copy(msg[16:32], f.Dst[:])
		n = 32
	}
	binary.BigEndian.PutUint16(msg[n:], f.SrcPort)
	binary.BigEndian.PutUint16(msg[n+2:], f.DstPort)
	binary.LittleEndian.PutUint32(msg[n+4:], count)
	msg[n+8] = mssIndex
	return uint32(sipHash24(key, msg[:n+9]))
}

// Options a cookie carries in the low bits of the SYN/ACK's TSval, which the
// client echoes in TSecr (Linux's cookie_init_timestamp):
//
//	| 31 ... 6  |  5  |  4   | 3 2 1 0 |
//	| timestamp | ECN | SACK | WScale  |
//
// WScale 0xf means the SYN had no window scale option.
const (
	tsOptWScaleMask = 0xf
	tsOptSACK       = 1 << 4
	tsOptECN        = 1 << 5
	tsOptBits       = 6
)

// cookieTSVal returns a TSval not after tsNow whose low bits hold opts.
func cookieTSVal(tsNow, opts uint32) uint32 {
	ts := tsNow&^(1<<tsOptBits-1) | opts
	if ts > tsNow {
		ts -= 1 << tsOptBits
	}
	return ts
}

// encodeTSOptions packs the SYN's options into the TSval's low bits.
func encodeTSOptions(wscaleOK bool, wscale uint8, sack, ecn bool) uint32 {
	opts := uint32(tsOptWScaleMask)
	if wscaleOK {
		opts = uint32(min(wscale, header.TCPMaxWindowScale))
	}
	if sack {
		opts |= tsOptSACK
	}
	if ecn {
		opts |= tsOptECN
	}
	return opts
}

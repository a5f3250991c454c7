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
// into H1 rejects every such tampering at the same cost.
//
// H0 is SipHash-2-4 of the flow under the secret's first key; H1 is
// SipHash-2-4 of H0's full 64 bits, the window and the index under the
// second, so the addresses are hashed once per cookie, not twice.
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
	h0 := sec.flowHash(f)
	return uint32(h0) + clientISN + now.Window<<cookieBits + sec.low(h0, now.Window, uint32(mssIndex))
}

// CheckCookie reports whether cookie is a valid answer to a SYN of flow f
// with sequence number clientISN, issued under the current or the previous
// secret no more than MaxCookieAge windows ago, and returns the MSS index it
// carries.
func (s *Secrets) CheckCookie(f *Flow, clientISN, cookie uint32, now Now) (mssIndex int, ok bool) {
	if i, ok := s.current.check(f, clientISN, cookie, now.Window); ok {
		return i, true
	}
	if s.previousValid(now.Window) {
		return s.previous.check(f, clientISN, cookie, now.Window)
	}
	return 0, false
}

func (sec *secret) check(f *Flow, clientISN, cookie, window uint32) (int, bool) {
	h0 := sec.flowHash(f)
	c := cookie - (uint32(h0) + clientISN)
	age := (window - c>>cookieBits) & windowCounter
	if age >= MaxCookieAge {
		return 0, false
	}
	index := c & mssIndexMask
	if c&cookieMask != sec.low(h0, window-age, index) {
		return 0, false
	}
	return int(index), true
}

// low returns the cookie's low 24 bits: 22 bits of H1 and the MSS index.
func (sec *secret) low(h0 uint64, window, mssIndex uint32) uint32 {
	// The message is h0 (8 bytes), window (4) and index (1): 13 bytes.
	h1 := sipHash24(&sec.window, []uint64{h0}, lastBlock(uint64(window)|uint64(mssIndex)<<32, 13))
	return (uint32(h1)<<mssIndexBits | mssIndex) & cookieMask
}

// flowHash is H0, Linux's cookie_hash with SipHash-2-4: a keyed hash of the
// flow's addresses and ports (12 bytes for IPv4, 36 for IPv6).
func (sec *secret) flowHash(f *Flow) uint64 {
	ports := uint64(f.SrcPort)<<16 | uint64(f.DstPort)
	if header.Is4(&f.Src) {
		addrs := uint64(binary.LittleEndian.Uint32(f.Src[12:])) | uint64(binary.LittleEndian.Uint32(f.Dst[12:]))<<32
		return sipHash24(&sec.base, []uint64{addrs}, lastBlock(ports, 12))
	}
	blocks := [4]uint64{
		binary.LittleEndian.Uint64(f.Src[0:]), binary.LittleEndian.Uint64(f.Src[8:]),
		binary.LittleEndian.Uint64(f.Dst[0:]), binary.LittleEndian.Uint64(f.Dst[8:]),
	}
	return sipHash24(&sec.base, blocks[:], lastBlock(ports, 36))
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

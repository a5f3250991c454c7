package health

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// dnsTypes maps the query types a DNS check may ask for to their codes.
var dnsTypes = map[string]uint16{
	"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33, "ANY": 255,
}

// DNS header (RFC 1035 4.1.1), 12 bytes:
//
//	 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
//	|                      ID                       |
//	|QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
//	|                    QDCOUNT                    |
//	|                    ANCOUNT                    |
//	|                    NSCOUNT                    |
//	|                    ARCOUNT                    |
const (
	dnsHeaderLen   = 12
	dnsFlagQR      = 1 << 15
	dnsFlagRD      = 1 << 8
	dnsRcodeMask   = 0xf
	dnsClassIN     = 1
	dnsMaxLabelLen = 63
	dnsMaxNameLen  = 255
)

// dnsCheck queries name/type over UDP; a reply with RCODE NOERROR and at
// least one answer is up.
type dnsCheck struct {
	addr   netip.AddrPort
	source netip.Addr
	name   string
	qtype  uint16
}

func newDNSCheck(spec Spec, addr netip.AddrPort) check {
	return &dnsCheck{addr: addr, source: spec.SourceAddr, name: spec.DNSName, qtype: dnsTypes[spec.DNSType]}
}

func (c *dnsCheck) run(ctx context.Context) result {
	id := uint16(rand.Uint32())
	query, err := buildDNSQuery(id, c.name, c.qtype)
	if err != nil {
		return failure(fmt.Errorf("dns query: %w", err))
	}
	isOurs := func(b []byte) bool {
		return len(b) >= dnsHeaderLen && binary.BigEndian.Uint16(b) == id && binary.BigEndian.Uint16(b[2:])&dnsFlagQR != 0
	}
	reply, err := exchangeUDP(ctx, c.addr, c.source, query, isOurs)
	if err != nil {
		return failure(fmt.Errorf("dns: %w", err))
	}
	if rcode := binary.BigEndian.Uint16(reply[2:]) & dnsRcodeMask; rcode != 0 {
		return failure(fmt.Errorf("dns rcode %d", rcode))
	}
	if binary.BigEndian.Uint16(reply[6:]) == 0 {
		return failure(errors.New("dns reply has no answer"))
	}
	return success()
}

// buildDNSQuery returns a recursive query for one name, type and class IN.
func buildDNSQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	b := make([]byte, dnsHeaderLen, dnsHeaderLen+len(name)+6)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], dnsFlagRD)
	binary.BigEndian.PutUint16(b[4:], 1) // QDCOUNT
	b, err := appendDNSName(b, name)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, dnsClassIN), nil
}

// appendDNSName appends name in wire form: length-prefixed labels, then 0.
func appendDNSName(b []byte, name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".")
	start := len(b)
	if name != "" {
		for label := range strings.SplitSeq(name, ".") {
			if label == "" || len(label) > dnsMaxLabelLen {
				return nil, fmt.Errorf("bad label in %q", name)
			}
			b = append(b, byte(len(label)))
			b = append(b, label...)
		}
	}
	b = append(b, 0)
	if len(b)-start > dnsMaxNameLen {
		return nil, fmt.Errorf("name %q is longer than %d bytes", name, dnsMaxNameLen)
	}
	return b, nil
}

package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsTypes maps the query types a DNS check may ask for to their codes.
var dnsTypes = map[string]dnsmessage.Type{
	"A": dnsmessage.TypeA, "NS": dnsmessage.TypeNS, "CNAME": dnsmessage.TypeCNAME, "SOA": dnsmessage.TypeSOA,
	"PTR": dnsmessage.TypePTR, "MX": dnsmessage.TypeMX, "TXT": dnsmessage.TypeTXT, "AAAA": dnsmessage.TypeAAAA,
	"SRV": dnsmessage.TypeSRV, "ANY": dnsmessage.TypeALL,
}

// dnsCheck queries name/type over UDP; a reply with RCODE NOERROR and at
// least one answer is up.
type dnsCheck struct {
	addr   netip.AddrPort
	source netip.Addr
	name   string
	qtype  dnsmessage.Type
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
		var p dnsmessage.Parser
		h, err := p.Start(b)
		return err == nil && h.ID == id && h.Response
	}
	reply, err := exchangeUDP(ctx, c.addr, c.source, query, isOurs)
	if err != nil {
		return failure(fmt.Errorf("dns: %w", err))
	}
	var p dnsmessage.Parser
	h, err := p.Start(reply)
	if err != nil {
		return failure(fmt.Errorf("dns reply: %w", err))
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return failure(fmt.Errorf("dns rcode %d", h.RCode))
	}
	if err := p.SkipAllQuestions(); err != nil {
		return failure(fmt.Errorf("dns reply: %w", err))
	}
	if _, err := p.AnswerHeader(); errors.Is(err, dnsmessage.ErrSectionDone) {
		return failure(errors.New("dns reply has no answer"))
	} else if err != nil {
		return failure(fmt.Errorf("dns reply: %w", err))
	}
	return success()
}

// buildDNSQuery returns a recursive query for one name, type and class IN.
func buildDNSQuery(id uint16, name string, qtype dnsmessage.Type) ([]byte, error) {
	qname, err := dnsmessage.NewName(strings.TrimSuffix(name, ".") + ".")
	if err != nil {
		return nil, fmt.Errorf("name %q: %w", name, err)
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: qname, Type: qtype, Class: dnsmessage.ClassINET}); err != nil {
		return nil, fmt.Errorf("name %q: %w", name, err)
	}
	return b.Finish()
}

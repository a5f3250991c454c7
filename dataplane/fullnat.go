package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/nat"
)

// FULLNAT (Alibaba's FNAT, as DPVS does it): on the way in the client
// address:port becomes one of the service's local addresses and a port this
// worker owns, and the VIP:port becomes the real server's; a reply from the
// real server to local:lport goes back as VIP:vport → client:cport. Real
// servers need no route through the director for the clients, only one to
// the local addresses, and they see the local address as their client
// unless the service's client_address tells them the real one (a PROXY
// protocol header or the TOA option, clientaddr.go and proxyheader.go).

// buildLocalAddresses collects the table's FULLNAT local addresses, so that
// isLocalAddress is one map lookup. Build calls it.
func (t *Table) buildLocalAddresses() {
	for i := range t.services {
		svc := &t.services[i]
		if svc.Spec.Method != MethodFullNAT {
			continue
		}
		for _, a := range svc.Spec.LocalAddresses {
			if t.localAddrs == nil {
				t.localAddrs = map[[16]byte]struct{}{}
			}
			t.localAddrs[a.Unmap().As16()] = struct{}{}
		}
	}
}

// isLocalAddress says whether a is one of the table's FULLNAT local
// addresses (replies to it belong to the worker named by the port).
func (t *Table) isLocalAddress(a *[16]byte) bool {
	if len(t.localAddrs) == 0 {
		return false
	}
	_, ok := t.localAddrs[*a]
	return ok
}

// rewriteToReal readdresses a client's packet of a NAT or FULLNAT
// connection for its real server.
func (w *Worker) rewriteToReal(c *conntrack.Conn, p *header.Packet) {
	if Method(c.Forward) == MethodFullNAT {
		nat.RewriteFullNAT(p, &c.Local, c.LocalPort, &c.Real, c.RealPort)
		return
	}
	nat.RewriteDestination(p, &c.Real, c.RealPort)
}

// rewriteToClient readdresses a real server's reply of a NAT or FULLNAT
// connection for the client: from the VIP, to the client.
func rewriteToClient(c *conntrack.Conn, p *header.Packet) {
	if Method(c.Forward) == MethodFullNAT {
		nat.RewriteFullNAT(p, &c.Virtual, c.VirtualPort, &c.Client, c.ClientPort)
		return
	}
	nat.RewriteSource(p, &c.Virtual, c.VirtualPort)
}

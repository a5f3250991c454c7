package synproxy

import "fmt"

// ProxyWindowScale is the window scale the director offers a client in its
// cookie SYN/ACK, on behalf of a real server it has not yet chosen. Linux
// picks 7 for its default receive buffers; when the real server picks
// another, seqadj rescales every window it sends (see the package doc).
const ProxyWindowScale = 7

// Config is what a service tells the SYN proxy.
type Config struct {
	// MSS is advertised to clients in the SYN/ACK and caps the MSS the
	// director passes to the real server (the path through the director).
	// Clients send segments up to this size before any real server is
	// chosen, so it must not exceed what the real servers' path carries.
	MSS uint16
	// Window is the SYN/ACK's receive window (never scaled, RFC 7323).
	Window uint16
	// TTL is the IPv4 TTL or IPv6 hop limit of the packets the proxy writes.
	TTL uint8
	// ECN lets a client that asks for ECN in its SYN (ECE and CWR) have it
	// (only with timestamps, where the cookie can carry it); the director
	// then asks the real server for it too.
	ECN bool
}

// Validate reports the first field of c that cannot work, for the control
// plane to refuse at load time.
func (c *Config) Validate() error {
	switch {
	case c.MSS < minMSS:
		return fmt.Errorf("synproxy mss %d: below the %d bytes every IPv4 host accepts", c.MSS, minMSS)
	case c.Window == 0:
		return fmt.Errorf("synproxy window 0: a SYN/ACK must open a window")
	case c.TTL == 0:
		return fmt.Errorf("synproxy ttl 0: packets would be dropped at the first router")
	}
	return nil
}

// minMSS is the smallest MSS an IPv4 host must accept (RFC 9293 section
// 3.7.1).
const minMSS = defaultMSS4

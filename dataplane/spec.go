package dataplane

import (
	"fmt"
	"net/netip"
	"time"

	"fastlvs/sched"
)

// Method is how a packet reaches its real server.
type Method uint8

const (
	MethodDR      Method = iota + 1 // rewrite the destination MAC (IPVS "Route", -g)
	MethodNAT                       // rewrite VIP:port to RIP:port and back (IPVS "Masq", -m)
	MethodFullNAT                   // also rewrite the client to a local address (Alibaba's FNAT)
	MethodTunnel                    // encapsulate in IPIP/IPv6 (IPVS "Tunnel", -i)
)

var methodNames = [...]string{MethodDR: "dr", MethodNAT: "nat", MethodFullNAT: "fullnat", MethodTunnel: "tun"}

func (m Method) String() string {
	if int(m) < len(methodNames) && methodNames[m] != "" {
		return methodNames[m]
	}
	return fmt.Sprintf("method(%d)", m)
}

// ParseMethod maps a config name to a Method.
func ParseMethod(name string) (Method, error) {
	for m, n := range methodNames {
		if n != "" && n == name {
			return Method(m), nil
		}
	}
	return 0, fmt.Errorf("unknown forwarding method %q (want dr, nat, fullnat or tun)", name)
}

// Protocol numbers as they appear in the IP header.
const (
	ProtoTCP uint8 = 6
	ProtoUDP uint8 = 17
)

// TableSpec is everything the control plane asks the dataplane to do: plain
// data, copied freely, validated by the control plane before it gets here.
type TableSpec struct {
	Services []ServiceSpec
	// ExpireNodestConn drops a connection's packets (and the connection) once
	// its real server is no longer in the table, as IPVS's expire_nodest_conn.
	ExpireNodestConn bool
	// ExpireQuiescentTemplate expires a persistence template whose real
	// server has weight 0, as IPVS's expire_quiescent_template.
	ExpireQuiescentTemplate bool
	// SloppyTCP lets any TCP packet but a reset create a connection (IPVS's
	// sloppy_tcp), so a flow moved here by ECMP continues.
	SloppyTCP bool
	// Draining lists real servers removed from the configuration whose
	// connections must end by a deadline.
	Draining []DrainSpec
	// OverflowAccept lets other sites' directors shed connections to this
	// one's VIPs (overflow.go).
	OverflowAccept OverflowAcceptSpec
}

// DrainSpec bounds the life of a removed real server's connections.
type DrainSpec struct {
	Service ServiceKey
	Addr    netip.Addr
	Port    uint16
	Until   int64 // monotonic nanoseconds (Now's clock)
}

// ServiceSpec is one virtual service.
type ServiceSpec struct {
	Name            string
	VIP             netip.Addr
	Port            uint16 // 0 = all ports (persistent services only)
	Proto           uint8
	Scheduler       string
	Flags           sched.Flags
	MaglevTableSize uint64
	Method          Method
	// Persistence keeps a client on one real server across connections for
	// this long after its last connection ends; 0 disables it.
	Persistence time.Duration
	// PersistenceBits masks the client address for persistence (IPv4 /24 is
	// 24); 0 means the full address.
	PersistenceBits int
	LocalAddresses  []netip.Addr
	// SynProxy answers SYNs with syncookies and opens the connection to a
	// real server only once the client's ACK validates (synproxy.go); NAT
	// and FULLNAT TCP services only. SynProxyMSS is the MSS it advertises
	// (0: 1460).
	SynProxy    bool
	SynProxyMSS uint16
	// ClientAddress is how a FULLNAT service's real servers learn the
	// client (clientaddr.go).
	ClientAddress ClientAddress
	// GUE (MethodTunnel): encapsulate in UDP to GUEPort with a GUE header
	// instead of IPIP (tunnel/gue.go).
	GUE     bool
	GUEPort uint16
	// Overflow sheds new connections to another site while the service is
	// over its capacity (overflow.go); a zero To never sheds.
	Overflow OverflowSpec
	Reals    []RealSpec
}

// RealSpec is one real server of a service.
type RealSpec struct {
	Addr           netip.Addr
	Port           uint16 // 0 = the port the client asked for
	Weight         int32
	UpperThreshold uint32
	LowerThreshold uint32
}

// ServiceKey names a service as IPVS does: protocol, address, port.
type ServiceKey struct {
	Addr  [16]byte
	Port  uint16
	Proto uint8
}

// Key returns the service's identity.
func (s *ServiceSpec) Key() ServiceKey {
	return ServiceKey{Addr: s.VIP.Unmap().As16(), Port: s.Port, Proto: s.Proto}
}

func (k ServiceKey) String() string {
	proto := "tcp"
	if k.Proto == ProtoUDP {
		proto = "udp"
	}
	return fmt.Sprintf("%s/%s", proto, netip.AddrPortFrom(netip.AddrFrom16(k.Addr).Unmap(), k.Port))
}

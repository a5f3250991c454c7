package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	gobgpapi "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"

	"fastlvs/control/api"
)

// Settings configure a speaker. They are plain values; control translates
// its configuration into them.
type Settings struct {
	ASN      uint32
	RouterID netip.Addr
	// ListenPort is the TCP port passive peers connect to; 0 listens on none
	// (every peer is dialled).
	ListenPort int
	Peers      []Peer
	// Communities (RFC 1997, high<<16|low) and MED (0 = none) go with every
	// announced prefix.
	Communities []uint32
	MED         uint32
	// NextHops holds at most one address per family; a family without one
	// announces the session's own local address.
	NextHops []netip.Addr
}

// Route is one prefix to announce. A MED of 0 or no communities take the
// speaker's (Settings).
type Route struct {
	Prefix      netip.Prefix
	MED         uint32
	Communities []uint32
}

// sameAttributes reports whether a and b announce the same path.
func (r Route) sameAttributes(o Route) bool {
	return r.MED == o.MED && slices.Equal(r.Communities, o.Communities)
}

// Peer is one BGP neighbour.
type Peer struct {
	Address netip.Addr
	Port    uint16 // 0 = 179
	ASN     uint32
	// HoldTime is proposed in OPEN; keepalives go every third of it.
	HoldTime time.Duration
	Password string // TCP MD5 signature
	// Passive waits for the peer to connect instead of dialling it.
	Passive bool
}

// Defaults for what a Peer leaves zero.
const (
	DefaultHoldTime = 90 * time.Second
	// connectRetry is how often an idle session is dialled again: a router
	// that restarts is back within seconds, not gobgp's default two minutes.
	connectRetry = 5 * time.Second
)

var (
	familyIPv4 = &gobgpapi.Family{Afi: gobgpapi.Family_AFI_IP, Safi: gobgpapi.Family_SAFI_UNICAST}
	familyIPv6 = &gobgpapi.Family{Afi: gobgpapi.Family_AFI_IP6, Safi: gobgpapi.Family_SAFI_UNICAST}
)

// Speaker announces a set of host prefixes to its peers.
type Speaker struct {
	settings Settings
	server   *server.BgpServer

	mu       sync.Mutex // guards want, draining
	want     []Route
	draining bool
	wake     chan struct{} // one pending "want changed"

	applyMu   sync.Mutex // serialises changes to announced
	announced map[netip.Prefix]announcement

	stop chan struct{}
	done chan struct{}
}

// Start runs a speaker and adds its peers; it announces nothing until Want
// is called.
func Start(ctx context.Context, settings Settings, logger *slog.Logger) (*Speaker, error) {
	s := &Speaker{
		settings:  settings,
		server:    server.NewBgpServer(server.LoggerOption(newSlogAdapter(logger))),
		wake:      make(chan struct{}, 1),
		announced: map[netip.Prefix]announcement{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go s.server.Serve()
	listenPort := int32(settings.ListenPort)
	if listenPort == 0 {
		listenPort = -1 // gobgp's "do not listen"
	}
	if err := s.server.StartBgp(ctx, &gobgpapi.StartBgpRequest{Global: &gobgpapi.Global{
		Asn:        settings.ASN,
		RouterId:   settings.RouterID.String(),
		ListenPort: listenPort,
	}}); err != nil {
		s.server.Stop()
		return nil, fmt.Errorf("start bgp: %w", err)
	}
	for _, p := range settings.Peers {
		if err := s.server.AddPeer(ctx, &gobgpapi.AddPeerRequest{Peer: peerRequest(p)}); err != nil {
			s.server.Stop()
			return nil, fmt.Errorf("add bgp peer %s: %w", p.Address, err)
		}
	}
	go s.routineAnnounce()
	return s, nil
}

func peerRequest(p Peer) *gobgpapi.Peer {
	hold := p.HoldTime
	if hold == 0 {
		hold = DefaultHoldTime
	}
	return &gobgpapi.Peer{
		Conf: &gobgpapi.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password},
		Timers: &gobgpapi.Timers{Config: &gobgpapi.TimersConfig{
			HoldTime:          uint64(hold / time.Second),
			KeepaliveInterval: uint64(hold / 3 / time.Second),
			ConnectRetry:      uint64(connectRetry / time.Second),
		}},
		Transport: &gobgpapi.Transport{PassiveMode: p.Passive, RemotePort: uint32(p.Port)},
		AfiSafis: []*gobgpapi.AfiSafi{
			{Config: &gobgpapi.AfiSafiConfig{Family: familyIPv4, Enabled: true}},
			{Config: &gobgpapi.AfiSafiConfig{Family: familyIPv6, Enabled: true}},
		},
	}
}

// announcement is a route in gobgp's table and the path that put it there.
type announcement struct {
	route Route
	path  *gobgpapi.Path
}

// Want sets the routes to announce; the previous set's others are
// withdrawn. It never blocks: a routine applies the latest set. Once the
// speaker drains, Want is ignored.
func (s *Speaker) Want(routes []Route) {
	s.mu.Lock()
	s.want = slices.Clone(routes)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is pending; it will read this set
	}
}

// WithdrawAll withdraws every prefix and keeps them withdrawn for the
// speaker's life (a draining director). It returns when the withdrawals are
// in gobgp's table, which sends them to established peers at once.
func (s *Speaker) WithdrawAll() error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	return s.apply()
}

// RoutineAnnounce applies wanted sets until Stop.
func (s *Speaker) routineAnnounce() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
			if err := s.apply(); err != nil {
				slog.Error("bgp: announce", "err", err)
			}
		}
	}
}

// apply brings the announced set to the wanted one (none when draining).
func (s *Speaker) apply() error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	want := s.want
	if s.draining {
		want = nil
	}
	s.mu.Unlock()
	ctx := context.Background()
	keep := make(map[netip.Prefix]bool, len(want))
	for _, route := range want {
		keep[route.Prefix] = true
		if current, ok := s.announced[route.Prefix]; ok && current.route.sameAttributes(route) {
			continue
		}
		// A new path for a prefix replaces the one announced before.
		path, err := s.path(route)
		if err != nil {
			return err
		}
		if _, err := s.server.AddPath(ctx, &gobgpapi.AddPathRequest{Path: path}); err != nil {
			return fmt.Errorf("announce %s: %w", route.Prefix, err)
		}
		s.announced[route.Prefix] = announcement{route: route, path: path}
	}
	for prefix, current := range s.announced {
		if keep[prefix] {
			continue
		}
		if err := s.server.DeletePath(ctx, &gobgpapi.DeletePathRequest{Family: current.path.Family, Path: current.path}); err != nil {
			return fmt.Errorf("withdraw %s: %w", prefix, err)
		}
		delete(s.announced, prefix)
	}
	return nil
}

// path builds the BGP path of route: origin IGP, the configured next hop
// (unspecified = the session's local address), MED and communities.
func (s *Speaker) path(route Route) (*gobgpapi.Path, error) {
	prefix := route.Prefix
	nlri, err := anypb.New(&gobgpapi.IPAddressPrefix{Prefix: prefix.Addr().String(), PrefixLen: uint32(prefix.Bits())})
	if err != nil {
		return nil, err
	}
	origin, err := anypb.New(&gobgpapi.OriginAttribute{Origin: 0})
	if err != nil {
		return nil, err
	}
	attrs := []*anypb.Any{origin}
	family, nextHop := familyIPv4, netip.IPv4Unspecified()
	if prefix.Addr().Is6() {
		family, nextHop = familyIPv6, netip.IPv6Unspecified()
	}
	for _, nh := range s.settings.NextHops {
		if nh.Is4() == prefix.Addr().Is4() {
			nextHop = nh
		}
	}
	var hop *anypb.Any
	if family == familyIPv4 {
		hop, err = anypb.New(&gobgpapi.NextHopAttribute{NextHop: nextHop.String()})
	} else {
		hop, err = anypb.New(&gobgpapi.MpReachNLRIAttribute{Family: family, NextHops: []string{nextHop.String()}, Nlris: []*anypb.Any{nlri}})
	}
	if err != nil {
		return nil, err
	}
	attrs = append(attrs, hop)
	medValue, communityValues := route.MED, route.Communities
	if medValue == 0 {
		medValue = s.settings.MED
	}
	if len(communityValues) == 0 {
		communityValues = s.settings.Communities
	}
	if medValue != 0 {
		med, err := anypb.New(&gobgpapi.MultiExitDiscAttribute{Med: medValue})
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, med)
	}
	if len(communityValues) > 0 {
		communities, err := anypb.New(&gobgpapi.CommunitiesAttribute{Communities: communityValues})
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, communities)
	}
	return &gobgpapi.Path{Family: family, Nlri: nlri, Pattrs: attrs}, nil
}

// Status lists the sessions and the announced prefixes.
func (s *Speaker) Status(ctx context.Context) (api.BGPStatus, error) {
	status := api.BGPStatus{Enabled: true, ASN: s.settings.ASN, RouterID: s.settings.RouterID.String(), Sessions: []api.BGPSession{}}
	err := s.server.ListPeer(ctx, &gobgpapi.ListPeerRequest{}, func(p *gobgpapi.Peer) {
		session := api.BGPSession{State: "unknown"}
		if p.Conf != nil {
			session.Peer, _ = netip.ParseAddr(p.Conf.NeighborAddress)
			session.ASN = p.Conf.PeerAsn
		}
		if p.State != nil {
			session.State = strings.ToLower(p.State.SessionState.String())
			session.Up = p.State.SessionState == gobgpapi.PeerState_ESTABLISHED
		}
		status.Sessions = append(status.Sessions, session)
	})
	if err != nil {
		return status, fmt.Errorf("list bgp peers: %w", err)
	}
	slices.SortFunc(status.Sessions, func(a, b api.BGPSession) int { return a.Peer.Compare(b.Peer) })
	s.mu.Lock()
	status.Draining = s.draining
	s.mu.Unlock()
	s.applyMu.Lock()
	for prefix := range s.announced {
		status.Announced = append(status.Announced, prefix)
	}
	s.applyMu.Unlock()
	slices.SortFunc(status.Announced, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	if status.Announced == nil {
		status.Announced = []netip.Prefix{}
	}
	return status, nil
}

// Stop closes every session (peers get a Cease and drop the routes at once)
// and stops the speaker.
func (s *Speaker) Stop() {
	close(s.stop)
	<-s.done
	s.server.Stop()
}

package bgp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	gobgpapi "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

const (
	routerASN   = 64512
	directorASN = 64513
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startRouter runs a plain gobgp server on 127.0.0.1 that accepts a session
// from the director on 127.0.0.1, and returns it with its port.
func startRouter(tb testing.TB) (*server.BgpServer, uint16) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	router := server.NewBgpServer(server.LoggerOption(newSlogAdapter(quiet)))
	go router.Serve()
	ctx := context.Background()
	if err := router.StartBgp(ctx, &gobgpapi.StartBgpRequest{Global: &gobgpapi.Global{
		Asn: routerASN, RouterId: "198.18.255.1", ListenPort: int32(port), ListenAddresses: []string{"127.0.0.1"},
	}}); err != nil {
		tb.Fatal(err)
	}
	if err := router.AddPeer(ctx, &gobgpapi.AddPeerRequest{Peer: &gobgpapi.Peer{
		Conf:      &gobgpapi.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: directorASN},
		Transport: &gobgpapi.Transport{PassiveMode: true},
		AfiSafis: []*gobgpapi.AfiSafi{
			{Config: &gobgpapi.AfiSafiConfig{Family: familyIPv4, Enabled: true}},
			{Config: &gobgpapi.AfiSafiConfig{Family: familyIPv6, Enabled: true}},
		},
	}}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(router.Stop)
	return router, uint16(port)
}

func startDirector(tb testing.TB, routerPort uint16) *Speaker {
	tb.Helper()
	speaker, err := Start(context.Background(), Settings{
		ASN:         directorASN,
		RouterID:    netip.MustParseAddr("198.18.255.2"),
		Peers:       []Peer{{Address: netip.MustParseAddr("127.0.0.1"), Port: routerPort, ASN: routerASN, HoldTime: 9 * time.Second}},
		Communities: []uint32{64513<<16 | 100},
		MED:         10,
		NextHops:    []netip.Addr{netip.MustParseAddr("2001:2::1")},
	}, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(speaker.Stop)
	return speaker
}

// received lists the prefixes the router holds, both families.
func received(tb testing.TB, router *server.BgpServer) []netip.Prefix {
	tb.Helper()
	var out []netip.Prefix
	for _, family := range []*gobgpapi.Family{familyIPv4, familyIPv6} {
		err := router.ListPath(context.Background(), &gobgpapi.ListPathRequest{TableType: gobgpapi.TableType_GLOBAL, Family: family},
			func(d *gobgpapi.Destination) { out = append(out, netip.MustParsePrefix(d.Prefix)) })
		if err != nil {
			tb.Fatal(err)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// waitReceived waits up to timeout for the router to hold exactly want.
func waitReceived(tb testing.TB, router *server.BgpServer, want []netip.Prefix, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := received(tb, router)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("router holds %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func routes(prefixes ...netip.Prefix) []Route {
	out := make([]Route, len(prefixes))
	for i, p := range prefixes {
		out[i] = Route{Prefix: p}
	}
	return out
}

func TestSpeakerAnnouncesAndWithdraws(t *testing.T) {
	router, port := startRouter(t)
	speaker := startDirector(t, port)
	v4, v6 := netip.MustParsePrefix("198.18.0.10/32"), netip.MustParsePrefix("2001:2::10/128")

	speaker.Want(routes(v4, v6))
	waitReceived(t, router, []netip.Prefix{v4, v6}, 15*time.Second)
	status, err := speaker.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(status.Sessions) != 1 || !status.Sessions[0].Up || status.Sessions[0].State != "established" {
		t.Errorf("sessions = %+v, want one established", status.Sessions)
	}
	if !slices.Equal(status.Announced, []netip.Prefix{v4, v6}) {
		t.Errorf("announced = %v", status.Announced)
	}

	speaker.Want(routes(v4))
	waitReceived(t, router, []netip.Prefix{v4}, 2*time.Second)

	if err := speaker.WithdrawAll(); err != nil {
		t.Fatal(err)
	}
	waitReceived(t, router, nil, 2*time.Second)
	speaker.Want(routes(v4, v6)) // a draining speaker announces nothing again
	time.Sleep(200 * time.Millisecond)
	waitReceived(t, router, nil, time.Second)
	if status, _ := speaker.Status(context.Background()); !status.Draining || len(status.Announced) != 0 {
		t.Errorf("after drain: %+v", status)
	}
}

func TestSpeakerSendsAttributes(t *testing.T) {
	router, port := startRouter(t)
	speaker := startDirector(t, port)
	speaker.Want(routes(netip.MustParsePrefix("198.18.0.10/32")))
	waitReceived(t, router, []netip.Prefix{netip.MustParsePrefix("198.18.0.10/32")}, 15*time.Second)
	var attrs []string
	err := router.ListPath(context.Background(), &gobgpapi.ListPathRequest{TableType: gobgpapi.TableType_GLOBAL, Family: familyIPv4},
		func(d *gobgpapi.Destination) {
			for _, a := range d.Paths[0].Pattrs {
				attrs = append(attrs, a.String())
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	var med, community, nextHop bool
	for _, a := range attrs {
		med = med || containsAll(a, "MultiExitDisc", "med:10")
		community = community || containsAll(a, "Communities", "4227924068") // 64513:100
		nextHop = nextHop || containsAll(a, "NextHopAttribute", "127.0.0.1")
	}
	if !med || !community || !nextHop {
		t.Errorf("attributes %v: med %v community %v next hop (session address) %v", attrs, med, community, nextHop)
	}

	// The VIP's own MED and communities replace the path announced before.
	speaker.Want([]Route{{Prefix: netip.MustParsePrefix("198.18.0.10/32"), MED: 30, Communities: []uint32{64513<<16 | 200}}})
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		attrs := routerAttributes(t, router)
		if len(attrs) == 1 && strings.Contains(attrs[0], "med:30") && strings.Contains(attrs[0], "4227924168") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router paths after the attributes changed: %v", attrs)
		}
	}
}

// routerAttributes lists, per path the router holds for IPv4, its
// attributes in one string.
func routerAttributes(tb testing.TB, router *server.BgpServer) []string {
	tb.Helper()
	var out []string
	err := router.ListPath(context.Background(), &gobgpapi.ListPathRequest{TableType: gobgpapi.TableType_GLOBAL, Family: familyIPv4},
		func(d *gobgpapi.Destination) {
			for _, p := range d.Paths {
				var attrs []string
				for _, a := range p.Pattrs {
					attrs = append(attrs, a.String())
				}
				out = append(out, strings.Join(attrs, " "))
			}
		})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

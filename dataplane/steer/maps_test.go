package steer

import (
	"cmp"
	"encoding/binary"
	"maps"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/layers"
)

// endpointsIn lists the endpoints in an endpoint map.
func endpointsIn(tb testing.TB, m *ebpf.Map) []Endpoint {
	tb.Helper()
	var (
		key   steerEndpoint
		value uint8
		got   []Endpoint
	)
	iter := m.Iterate()
	for iter.Next(&key, &value) {
		var port [2]byte
		binary.NativeEndian.PutUint16(port[:], key.Port)
		got = append(got, Endpoint{Addr: key.Addr, Port: binary.BigEndian.Uint16(port[:]), Proto: key.Proto})
	}
	must(tb, iter.Err())
	return got
}

// uniqueSorted returns the distinct endpoints of eps in a stable order.
func uniqueSorted(eps []Endpoint) []Endpoint {
	set := map[Endpoint]bool{}
	for _, ep := range eps {
		set[ep] = true
	}
	return slices.SortedFunc(maps.Keys(set), func(a, b Endpoint) int {
		return cmp.Compare(a.String(), b.String())
	})
}

func TestSetServicesReplacesContent(t *testing.T) {
	prog, err := load()
	must(t, err)
	defer prog.Close()

	a := endpoint(vip, 80, tcp)
	b := endpoint(vip6, 443, tcp)
	c := endpoint(vip, 53, udp)
	for _, want := range [][]Endpoint{{a, b}, {b, c}, {c, c}, {}, {a}} {
		must(t, prog.SetServices(want))
		got := uniqueSorted(endpointsIn(t, prog.objects.Services))
		withEcho := slices.Clone(want)
		for _, e := range want { // every VIP answers echo
			proto := uint8(layers.IPProtocolICMPv6)
			if netip.AddrFrom16(e.Addr).Is4In6() {
				proto = uint8(layers.IPProtocolICMPv4)
			}
			withEcho = append(withEcho, Endpoint{Addr: e.Addr, Proto: proto})
		}
		if !slices.Equal(got, uniqueSorted(withEcho)) {
			t.Errorf("after SetServices(%v): map holds %v", want, got)
		}
	}
}

func TestSetAddressesReplacesContent(t *testing.T) {
	prog, err := load()
	must(t, err)
	defer prog.Close()

	one, two := localAddr.As16(), localAddr6.As16()
	for _, want := range [][][16]byte{{one, two}, {two}, {}} {
		must(t, prog.SetLocalAddresses(want))
		var (
			key   steerAddress
			value uint8
			got   [][16]byte
		)
		iter := prog.objects.LocalAddrs.Iterate()
		for iter.Next(&key, &value) {
			got = append(got, key.Addr)
		}
		must(t, iter.Err())
		if len(got) != len(want) || (len(want) == 1 && got[0] != want[0]) {
			t.Errorf("after SetLocalAddresses(%v): map holds %v", want, got)
		}
	}
}

func TestSetServicesRejectsBadInput(t *testing.T) {
	prog, err := load()
	must(t, err)
	defer prog.Close()

	if err := prog.SetServices([]Endpoint{endpoint(vip, 80, uint8(layers.IPProtocolICMPv4))}); err == nil {
		t.Error("SetServices accepted an icmp endpoint")
	}
	tooMany := make([]Endpoint, prog.objects.Services.MaxEntries()+1)
	for i := range tooMany {
		tooMany[i] = endpoint(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 80, tcp)
	}
	if err := prog.SetServices(tooMany); err == nil {
		t.Error("SetServices accepted more services than the map holds")
	}
}

// Replacing the services never removes one that stays: frames to it are
// steered throughout, while other services come and go.
func TestSetServicesKeepsStayingServicesSteered(t *testing.T) {
	prog, err := load()
	must(t, err)
	defer prog.Close()

	staying := endpoint(vip, servicePort, tcp)
	must(t, prog.SetServices([]Endpoint{staying}))
	vipSYN := frame(t, client, clientPort, vip, servicePort, layers.IPProtocolTCP)

	var (
		stop     atomic.Bool // set by the checking loop on failure
		replaced = make(chan error, 1)
	)
	go func() {
		for i := 0; i < 200 && !stop.Load(); i++ {
			churn := make([]Endpoint, 0, 51)
			for port := range uint16(50) {
				churn = append(churn, endpoint(vip, 1000+uint16(i%2)*100+port, tcp))
			}
			if err := prog.SetServices(append(churn, staying)); err != nil {
				replaced <- err
				return
			}
		}
		replaced <- nil
	}()

	runs, passed := 0, false
	for done := false; !done && !passed; runs++ {
		select {
		case err := <-replaced:
			must(t, err)
			done = true
		default:
		}
		before, err := prog.Stats()
		must(t, err)
		if _, err := prog.objects.FastlvsSteer.Run(&ebpf.RunOptions{Data: vipSYN}); err != nil {
			t.Fatal(err)
		}
		after, err := prog.Stats()
		must(t, err)
		passed = after.Passed != before.Passed
	}
	if passed {
		stop.Store(true)
		<-replaced
		t.Fatalf("frame %d to the staying service was passed during replacement", runs)
	}
	t.Logf("%d frames during 200 replacements", runs)
}

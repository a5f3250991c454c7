package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"fastlvs/testbed"
)

// TestPathMTUAtTheDirector: the director's own port is the narrow one, so
// fastlvs, not a router beyond it, must answer the packets that do not fit.
//
// DR: the real servers' link has MTU 1400 at both ends, but the real server
// offers MSS 1460 (its route says advmss 1460, as a host behind a narrower
// hop it does not know of would), so the client's full-size segments reach
// the director too big for that link. fastlvs answers the client with
// fragmentation needed (MTU 1400) from the VIP; the client's route cache
// learns it and a 1 MB upload completes.
//
// NAT: the client-side link (director to router) has MTU 1400 at both ends,
// everything else 1500: the real server's full-size replies are too big
// for it. fastlvs answers the real server about its own packet (real server
// to client), the real server's route cache learns 1400 towards the client
// and a 1 MB download completes. FULLNAT: the same, the answer from the
// local address the replies go to. Without the answers all stall.
func TestPathMTUAtTheDirector(t *testing.T) {
	for _, c := range []struct {
		forward string
		narrow  func(b icmpBed) error // make the director's link narrow
	}{
		{"dr", func(b icmpBed) error {
			return setMTUs(b.director, "eth1", b.real, "eth0", bottleneck, func() error {
				_, err := b.real.Run("ip", "route", "replace", "default", "via", "198.18.2.1", "advmss", "1460")
				return err
			})
		}},
		{"nat", func(b icmpBed) error { return setMTUs(b.director, "eth0", b.router, "eth1", bottleneck, nil) }},
		{"fullnat", func(b icmpBed) error { return setMTUs(b.director, "eth0", b.router, "eth1", bottleneck, nil) }},
	} {
		t.Run(c.forward, func(t *testing.T) {
			b := buildICMPBed(t, "edmtu"+c.forward, c.forward, 1)
			if _, err := b.router.Run("ip", "link", "set", "eth0", "mtu", "1500"); err != nil { // only the director's link is narrow
				t.Fatal(err)
			}
			if err := c.narrow(b); err != nil {
				t.Fatal(err)
			}
			learner, peer := b.client, icmpVIP // who must learn the MTU, towards whom
			if c.forward == "dr" {
				serveUpload(t, b.real)
			} else {
				serveDownload(t, b.real)
				learner, peer = b.real, icmpClient
				if c.forward == "fullnat" {
					peer = icmpLocal // its replies go to the local address, which answers
				}
			}
			d := startDirectorOn(t, b.director, icmpConfig(c.forward))
			var took time.Duration
			if c.forward == "dr" {
				took = upload(t, b.client, d)
			} else {
				took = download(t, b.client, icmpVIP)
			}
			t.Logf("%s: 1 MB across the director's 1400-byte link in %v", c.forward, took)
			out, err := learner.Run("ip", "route", "get", peer)
			if err != nil || !strings.Contains(string(out), fmt.Sprintf("mtu %d", bottleneck)) {
				t.Fatalf("%s's route to %s: %s (%v), want mtu %d\n%s", learner.Name, peer, out, err, bottleneck, lastLines(d.output.String(), 3))
			}
		})
	}
}

// setMTUs sets the MTU of a link's two ends, then runs then (if any).
func setMTUs(a *testbed.Host, aIface string, b *testbed.Host, bIface string, mtu int, then func() error) error {
	for _, end := range []struct {
		h     *testbed.Host
		iface string
	}{{a, aIface}, {b, bIface}} {
		if _, err := end.h.Run("ip", "link", "set", end.iface, "mtu", fmt.Sprint(mtu)); err != nil {
			return err
		}
	}
	if then != nil {
		return then()
	}
	return nil
}

package steer

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// namespacePrefix marks this package's namespaces: "fst<pid>n<counter>".
const namespacePrefix = "fst"

var namespaceCounter atomic.Int32

// vethPair is a veth pair inside a fresh network namespace that the calling
// goroutine's OS thread has entered.
type vethPair struct {
	link, peer netlink.Link
}

// newVethNamespace creates a named namespace holding an up veth pair and
// moves the test's OS thread into it until the test ends. Attach and netlink
// act in the thread's namespace, so the test must not hop goroutines.
func newVethNamespace(tb testing.TB) vethPair {
	tb.Helper()
	sweepStaleNamespaces(tb)

	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("get current netns: %v", err)
	}
	name := fmt.Sprintf("%s%dn%d", namespacePrefix, os.Getpid(), namespaceCounter.Add(1))
	ns, err := netns.NewNamed(name) // also enters it
	if err != nil {
		origin.Close()
		runtime.UnlockOSThread()
		tb.Fatalf("create netns %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := netns.Set(origin); err != nil {
			tb.Errorf("return to the original netns: %v", err) // keep the thread locked: it is tainted
		} else {
			runtime.UnlockOSThread()
		}
		origin.Close()
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			tb.Errorf("delete netns %s: %v", name, err)
		}
	})

	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name + "a"}, PeerName: name + "b"}
	if err := netlink.LinkAdd(veth); err != nil {
		tb.Fatalf("add veth %s: %v", veth.Name, err)
	}
	var pair vethPair
	for _, ifname := range []string{veth.Name, veth.PeerName} {
		link, err := netlink.LinkByName(ifname)
		if err != nil {
			tb.Fatalf("look up %s: %v", ifname, err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			tb.Fatalf("set %s up: %v", ifname, err)
		}
		if pair.link == nil {
			pair.link = link
		} else {
			pair.peer = link
		}
	}
	return pair
}

// sweepStaleNamespaces deletes namespaces of this prefix whose process is gone
// (a crashed earlier run).
func sweepStaleNamespaces(tb testing.TB) {
	tb.Helper()
	entries, _ := os.ReadDir("/var/run/netns")
	for _, entry := range entries {
		rest, ok := strings.CutPrefix(entry.Name(), namespacePrefix)
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "n")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil {
			continue // not one of ours
		}
		if _, err := os.Stat(filepath.Join("/proc", pidText)); err == nil || pid == os.Getpid() {
			continue // its test is still running
		}
		if err := netns.DeleteNamed(entry.Name()); err != nil {
			tb.Logf("sweep stale netns %s: %v", entry.Name(), err)
		}
	}
}

// xdpState returns the XDP attachment of ifindex as netlink reports it.
func xdpState(tb testing.TB, ifindex int) netlink.LinkXdp {
	tb.Helper()
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		tb.Fatalf("look up ifindex %d: %v", ifindex, err)
	}
	if link.Attrs().Xdp == nil {
		return netlink.LinkXdp{}
	}
	return *link.Attrs().Xdp
}

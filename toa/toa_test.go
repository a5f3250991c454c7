package toa

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeClient(t *testing.T) {
	v4 := toaToaClient{Family: 4, Port: 0x409c} // 40000 in network order, read little-endian
	copy(v4.Addr[:], []byte{198, 18, 1, 5})
	v6 := toaToaClient{Family: 6, Port: 0x5000}
	v6.Addr = netip.MustParseAddr("2001:2:1::5").As16()
	for _, tc := range []struct {
		v    toaToaClient
		want string
		ok   bool
	}{
		{v4, "198.18.1.5:40000", true},
		{v6, "[2001:2:1::5]:80", true},
		{toaToaClient{Family: 9}, "invalid AddrPort", false},
	} {
		got, ok, err := decodeClient(&tc.v)
		if got.String() != tc.want || ok != tc.ok || (err == nil) != tc.ok {
			t.Errorf("decodeClient(%+v) = %v %v %v, want %s %v", tc.v, got, ok, err, tc.want, tc.ok)
		}
	}
}

// TestAttachAndRead: the program passes the verifier and attaches to a
// fresh cgroup; a connection whose socket is outside that cgroup (this test
// process's) has no TOA, which ClientOf says without an error.
func TestAttachAndRead(t *testing.T) {
	root := cgroup2Root(t)
	dir := filepath.Join(root, fmt.Sprintf("fastlvs-toa-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	prog, err := Attach(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()
	client, ok, err := prog.Reader().ClientOf(accepted.(*net.TCPConn))
	if err != nil || ok {
		t.Fatalf("ClientOf a connection without TOA = %v %v %v, want nothing", client, ok, err)
	}
}

func cgroup2Root(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 2 && fields[2] == "cgroup2" {
			return fields[1]
		}
	}
	t.Fatal("no cgroup2 mount")
	return ""
}

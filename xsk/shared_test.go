package xsk_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"fastlvs/dataplane/steer"
	"fastlvs/header"
	"fastlvs/testbed"
	"fastlvs/xsk"
)

// TestSharedUMEMForwardsInPlace: a box with two interfaces forwards UDP
// from a client on one to a server on the other through two sockets sharing
// one UMEM. Every frame leaves by the second socket at the address it
// arrived at on the first, and the UMEM is a few dozen frames (not a power
// of two, as for three interfaces) against hundreds of datagrams: frames
// completing on one socket must come back to the other's fill ring.
func TestSharedUMEMForwardsInPlace(t *testing.T) {
	bed := testbed.ForTest(t, "fxs")
	client, box, server := testbed.HostForTest(t, bed, "client"), testbed.HostForTest(t, bed, "box"), testbed.HostForTest(t, bed, "server")
	for _, l := range []struct {
		a     *testbed.Host
		aIf   string
		b     *testbed.Host
		bIf   string
		addrA string
	}{{client, "eth0", box, "eth0", "198.18.6.1/24"}, {box, "eth1", server, "eth0", ""}} {
		if err := bed.Connect(l.a, l.aIf, l.b, l.bIf, testbed.LinkOptions{Queues: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// The server owns the address the client sends to, so the box only has
	// to change the Ethernet addresses.
	const dst = "198.18.6.10"
	if err := client.AddAddr("eth0", "198.18.6.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := server.AddAddr("eth0", dst+"/24"); err != nil {
		t.Fatal(err)
	}
	boxIn, err := box.MAC("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.AddNeighbor("eth0", dst, boxIn); err != nil {
		t.Fatal(err)
	}
	serverMAC, err := server.MAC("eth0")
	if err != nil {
		t.Fatal(err)
	}
	boxOut, err := box.MAC("eth1")
	if err != nil {
		t.Fatal(err)
	}
	recv, err := server.ListenPacket("udp", dst+":9")
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()

	const datagrams = 400
	forwarded := make(chan error, 1)
	ready := make(chan error, 1)
	go func() {
		forwarded <- box.Do(func() error {
			in, out, closeAll, err := openSharedPair(box, dst)
			if err != nil {
				ready <- err
				return err
			}
			defer closeAll()
			ready <- nil
			return forwardInPlace(in, out, serverMAC, boxOut, datagrams, 10*time.Second)
		})
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // attaching XDP resets the link

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.DialContext(ctx, "udp", dst+":9")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	received := make(chan int, 1)
	go func() { received <- countDatagrams(recv, datagrams) }()
	for range datagrams {
		if _, err := conn.Write([]byte("through the box")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Microsecond) // the box's rings are small
	}
	if err := <-forwarded; err != nil {
		t.Fatal(err)
	}
	if got := <-received; got != datagrams {
		t.Fatalf("server received %d of %d datagrams", got, datagrams)
	}
}

// openSharedPair opens a socket on eth0 that receives UDP to dst:9 and one
// on eth1 sharing its UMEM, each with far fewer frames than the test sends.
func openSharedPair(box *testbed.Host, dst string) (in, out *xsk.Socket, closeAll func(), err error) {
	inIndex, err := box.Ifindex("eth0")
	if err != nil {
		return nil, nil, nil, err
	}
	outIndex, err := box.Ifindex("eth1")
	if err != nil {
		return nil, nil, nil, err
	}
	prog, err := steer.Attach(inIndex, steer.ModeNative)
	if err != nil {
		return nil, nil, nil, err
	}
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, func() { prog.Close() })
	fail := func(err error) (*xsk.Socket, *xsk.Socket, func(), error) {
		closeAll()
		return nil, nil, nil, err
	}
	if in, err = xsk.Open(inIndex, 0, xsk.Options{Frames: 48, RingSize: 16}); err != nil {
		return fail(err)
	}
	closers = append(closers, func() { in.Close() })
	if out, err = xsk.Open(outIndex, 0, xsk.Options{RingSize: 16, ShareUMEM: in}); err != nil {
		return fail(err)
	}
	closers = append(closers, func() { out.Close() })
	if !in.SharesUMEM(out) {
		return fail(fmt.Errorf("sockets opened to share a UMEM do not"))
	}
	if err := prog.RegisterSocket(0, in.FD()); err != nil {
		return fail(err)
	}
	vip := netip.MustParseAddr(dst).As16()
	if err := prog.SetServices([]steer.Endpoint{{Addr: vip, Port: 9, Proto: 17}}); err != nil {
		return fail(err)
	}
	return in, out, closeAll, nil
}

// forwardInPlace sends n UDP frames received on in out of out, from the
// frame they arrived in, with the next hop's Ethernet addresses.
func forwardInPlace(in, out *xsk.Socket, nextHop, self net.HardwareAddr, n int, timeout time.Duration) error {
	done := relayUDP(in, out, n, timeout, func(frame []byte, _ *header.Packet) {
		eth := header.Ethernet(frame)
		eth.SetDestinationAddress(header.MAC(nextHop))
		eth.SetSourceAddress(header.MAC(self))
	})
	if done < n {
		return fmt.Errorf("forwarded %d of %d frames", done, n)
	}
	return nil
}

// countDatagrams reads until n arrived or a second passes without one.
func countDatagrams(c net.PacketConn, n int) int {
	buf := make([]byte, 64)
	got := 0
	for got < n {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := c.ReadFrom(buf); err != nil {
			break
		}
		got++
	}
	return got
}

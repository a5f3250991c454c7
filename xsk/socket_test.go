package xsk_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"fastlvs/dataplane/steer"
	"fastlvs/header"
	"fastlvs/hugemem"
	"fastlvs/testbed"
	"fastlvs/xsk"
)

// TestSocketEchoesRealPackets binds a socket to a veth in a namespace,
// steers UDP for 198.18.5.10:9 to it, and reflects every datagram back in
// place (swapping addresses and ports leaves the checksums valid). A kernel
// UDP socket on the peer must receive each reply: RX, TX, completion and
// fill recycling all work on real frames.
func TestSocketEchoesRealPackets(t *testing.T) {
	peer, box := testbed.PairForTest(t, "fxk")
	if err := peer.AddAddr("eth0", "198.18.5.1/24"); err != nil {
		t.Fatal(err)
	}
	boxMAC, err := box.MAC("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Run("ip", "neigh", "replace", "198.18.5.10", "lladdr", boxMAC.String(), "dev", "eth0"); err != nil {
		t.Fatal(err)
	}

	const packets = 200
	reflected := make(chan int, 1)
	ready := make(chan error, 1)
	go func() {
		err := box.Do(func() error {
			ifindex, err := box.Ifindex("eth0")
			if err != nil {
				return err
			}
			prog, err := steer.Attach(ifindex, steer.ModeNative)
			if err != nil {
				return err
			}
			defer prog.Close()
			sock, err := xsk.Open(ifindex, 0, xsk.Options{Frames: 256, RingSize: 64})
			if err != nil {
				return err
			}
			defer sock.Close()
			if err := prog.RegisterSocket(0, sock.FD()); err != nil {
				return err
			}
			vip := netip.MustParseAddr("198.18.5.10").As16()
			if err := prog.SetServices([]steer.Endpoint{{Addr: vip, Port: 9, Proto: 17}}); err != nil {
				return err
			}
			ready <- nil
			reflected <- reflect(sock, packets, 10*time.Second)
			return nil
		})
		if err != nil {
			ready <- err
		}
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // attaching XDP resets the link

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := peer.DialContext(ctx, "udp", "198.18.5.10:9")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := 0
	buf := make([]byte, 64)
	for i := 0; i < packets; i++ {
		if _, err := conn.Write([]byte("echo me")); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			continue
		}
		if string(buf[:n]) == "echo me" {
			got++
		}
	}
	if n := <-reflected; n != packets {
		t.Fatalf("socket reflected %d frames, want %d", n, packets)
	}
	if got != packets {
		t.Fatalf("peer received %d of %d replies", got, packets)
	}
}

// reflect echoes up to n UDP frames or until timeout and returns how many.
func reflect(sock *xsk.Socket, n int, timeout time.Duration) int {
	return relayUDP(sock, sock, n, timeout, func(frame []byte, p *header.Packet) {
		eth := header.Ethernet(frame)
		src, dst := eth.SourceAddress(), eth.DestinationAddress()
		eth.SetSourceAddress(dst)
		eth.SetDestinationAddress(src)
		ip := p.IPv4()
		s, t := ip.SourceAddress(), ip.DestinationAddress()
		ip.SetSourceAddress(t)
		ip.SetDestinationAddress(s)
		udp := p.UDP()
		sp, dp := udp.SourcePort(), udp.DestinationPort()
		udp.SetSourcePort(dp)
		udp.SetDestinationPort(sp)
	})
}

// relayUDP receives UDP frames on in, rewrites each in place and sends it
// out of out from the frame it arrived in, until n went out or timeout
// passes, and returns how many went out. Other frames are dropped.
func relayUDP(in, out *xsk.Socket, n int, timeout time.Duration, rewrite func([]byte, *header.Packet)) int {
	descs := make([]xsk.Desc, 16)
	deadline := time.Now().Add(timeout)
	done := 0
	var p header.Packet
	for done < n && time.Now().Before(deadline) {
		got := in.Receive(descs)
		if got == 0 {
			in.Refill()
			out.Refill()
			in.Wait(1)
			continue
		}
		for _, d := range descs[:got] {
			frame := in.Frame(d)
			if p.Parse(frame) != header.ParseOK || p.Proto != header.ProtocolUDP {
				in.Free(d.Addr)
				continue
			}
			rewrite(frame, &p)
			if out.Transmit([]xsk.Desc{d}) != 1 {
				in.Free(d.Addr)
				continue
			}
			done++
		}
		out.Kick()
		in.Refill()
		out.Refill()
	}
	return done
}

// TestOptionsRefuseNonPowersOfTwo: ring sizes are masks on the rings, and
// frame sizes masks on addresses.
func TestOptionsRefuseNonPowersOfTwo(t *testing.T) {
	if _, err := xsk.Open(1, 0, xsk.Options{RingSize: 100}); err == nil {
		t.Fatal("ring size 100 accepted")
	}
	if _, err := xsk.Open(1, 0, xsk.Options{FrameSize: 3000}); err == nil {
		t.Fatal("frame size 3000 accepted")
	}
	if _, err := xsk.Open(1, 0, xsk.Options{Frames: -1}); err == nil {
		t.Fatal("-1 frames accepted")
	}
}

// TestOpenWaitsOutABusyQueue: a queue another socket holds is tried again
// until that socket goes (a restart must not fail on the kernel's deferred
// release of the old socket), and refused with EBUSY if it never does.
func TestOpenWaitsOutABusyQueue(t *testing.T) {
	_, b := testbed.PairForTest(t, "fxq")
	err := b.Do(func() error {
		ifindex, err := b.Ifindex("eth0")
		if err != nil {
			return err
		}
		opts := xsk.Options{Frames: 256, RingSize: 64}
		first, err := xsk.Open(ifindex, 0, opts)
		if err != nil {
			return err
		}
		closed := time.AfterFunc(300*time.Millisecond, func() { first.Close() })
		defer closed.Stop()
		second, err := xsk.Open(ifindex, 0, opts)
		if err != nil {
			return fmt.Errorf("open after the holder closed: %w", err)
		}
		defer second.Close()

		start := time.Now()
		third, err := xsk.Open(ifindex, 0, opts)
		if err == nil {
			third.Close()
			return fmt.Errorf("a second socket bound a held queue")
		}
		if !errors.Is(err, unix.EBUSY) || time.Since(start) < time.Second {
			return fmt.Errorf("held queue: %v after %s, want EBUSY after the retry", err, time.Since(start))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUMEMInHugePages: where the kernel has transparent huge pages, a
// socket's UMEM is backed by them (AnonHugePages of its mapping in smaps).
func TestUMEMInHugePages(t *testing.T) {
	if err := hugemem.Available(); err != nil {
		t.Fatalf("this test needs transparent huge pages (always or madvise): %v", err)
	}
	_, b := testbed.PairForTest(t, "fxh")
	const frames, frameSize = 4096, 2048
	err := b.Do(func() error {
		ifindex, err := b.Ifindex("eth0")
		if err != nil {
			return err
		}
		sock, err := xsk.Open(ifindex, 0, xsk.Options{Frames: frames, FrameSize: frameSize, RingSize: 64})
		if err != nil {
			return err
		}
		defer sock.Close()
		first := uintptr(unsafe.Pointer(&sock.Buffer(0)[0]))
		huge, err := hugemem.Bytes([2]uintptr{first, first + 1})
		if err != nil {
			return err
		}
		if huge < frames*frameSize {
			return fmt.Errorf("UMEM of %d bytes has %d in huge pages, want all", frames*frameSize, huge)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

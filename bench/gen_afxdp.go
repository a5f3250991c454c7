package bench

import (
	"fmt"
	"sync/atomic"
	"time"

	"fastlvs/testbed"
	"fastlvs/xsk"
)

// AFXDPGenerator transmits pre-built frames through an AF_XDP socket (copy
// mode, TX only) on the generator host's interface, from one thread pinned
// to CPU. Per frame it copies a 60-byte template into a free UMEM frame; per
// batch it puts the batch on the TX ring and kicks the kernel once.
type AFXDPGenerator struct {
	Host  *testbed.Host
	Iface string
	CPU   int
}

// Name implements Generator.
func (g *AFXDPGenerator) Name() string { return "af_xdp" }

const (
	genBatch     = 256
	genRingSize  = 2048
	genFrames    = 4096
	genFrameSize = 2048
)

// Start opens the socket inside the generator's namespace and starts sending.
func (g *AFXDPGenerator) Start(t Traffic, maxPackets uint64, maxDuration time.Duration) (Job, error) {
	templates, err := t.Templates()
	if err != nil {
		return nil, err
	}
	ifindex, err := g.Host.Ifindex(g.Iface)
	if err != nil {
		return nil, err
	}
	sock, err := g.open(ifindex)
	if err != nil {
		return nil, fmt.Errorf("open generator socket on %s: %w", g.Iface, err)
	}
	job := &afxdpJob{done: make(chan struct{})}
	go job.routineSend(sock, g.CPU, templates, maxPackets, time.Now().Add(maxDuration))
	return job, nil
}

// open binds a socket to queue 0 (xsk.Open waits out a queue the last job's
// socket still holds).
func (g *AFXDPGenerator) open(ifindex int) (sock *xsk.Socket, err error) {
	err = g.Host.Do(func() (err error) {
		sock, err = xsk.Open(ifindex, 0, xsk.Options{Frames: genFrames, FrameSize: genFrameSize, RingSize: genRingSize})
		return err
	})
	return sock, err
}

type afxdpJob struct {
	stop atomic.Bool
	done chan struct{}
	sent uint64
	err  error
}

func (j *afxdpJob) Stop() { j.stop.Store(true) }

func (j *afxdpJob) Wait() (uint64, error) {
	<-j.done
	return j.sent, j.err
}

// routineSend is the generator's sending goroutine; it owns sock and closes it.
func (j *afxdpJob) routineSend(sock *xsk.Socket, cpu int, templates [][]byte, maxPackets uint64, deadline time.Time) {
	defer close(j.done)
	defer sock.Close()
	if err := xsk.PinThread(cpu); err != nil {
		j.err = err
		return
	}
	descs := make([]xsk.Desc, genBatch)
	flow := 0
	var sent uint64
	for sent < maxPackets && !j.stop.Load() && time.Now().Before(deadline) {
		sock.Refill()
		n := 0
		for n < genBatch && sent+uint64(n) < maxPackets {
			addr, ok := sock.Alloc()
			if !ok {
				break
			}
			tmpl := templates[flow]
			copy(sock.Buffer(addr), tmpl)
			descs[n] = xsk.Desc{Addr: addr, Len: uint32(len(tmpl))}
			n++
			if flow++; flow == len(templates) {
				flow = 0
			}
		}
		queued := sock.Transmit(descs[:n])
		for _, d := range descs[queued:n] {
			sock.Free(d.Addr)
		}
		sent += uint64(queued)
		sock.Kick()
	}
	// Let the kernel drain what is queued, briefly: the count is frames handed
	// to the TX ring, which the sink's count is compared against.
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		sock.Kick()
		sock.Refill()
	}
	j.sent = sent
}

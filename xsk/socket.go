package xsk

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"fastlvs/prefetch"
)

// Options size one socket. RingSize and FrameSize must be powers of two;
// Frames may be any count (a UMEM three interfaces share holds three
// interfaces' worth).
type Options struct {
	Frames    int // UMEM frames (default 4096)
	FrameSize int // bytes per frame (default 2048)
	RingSize  int // descriptors per ring, all four rings (default 2048)
	// ZeroCopy asks for XDP_ZEROCOPY; veth supports copy mode only, so the
	// default (false) binds with XDP_COPY.
	ZeroCopy bool
	// ShareUMEM, when set, binds the new socket to that socket's UMEM and
	// free frames (XDP_SHARED_UMEM) instead of its own: a frame received on
	// one leaves by the other in place. Frames and ZeroCopy are then the
	// first socket's; both sockets must stay with one goroutine.
	ShareUMEM *Socket
}

func (o *Options) setDefaults() error {
	if o.Frames == 0 {
		o.Frames = 4096
	}
	if o.FrameSize == 0 {
		o.FrameSize = 2048
	}
	if o.RingSize == 0 {
		o.RingSize = 2048
	}
	if o.Frames < 0 {
		return fmt.Errorf("xsk frames %d: must be positive", o.Frames)
	}
	for _, v := range []struct {
		name  string
		value int
	}{{"frame size", o.FrameSize}, {"ring size", o.RingSize}} {
		if v.value <= 0 || v.value&(v.value-1) != 0 {
			return fmt.Errorf("xsk %s %d: must be a power of two", v.name, v.value)
		}
	}
	if o.FrameSize < 2048 {
		return fmt.Errorf("xsk frame size %d: must be at least 2048", o.FrameSize)
	}
	return nil
}

// Socket is one AF_XDP socket bound to one queue of one interface, with its
// own UMEM or one it shares with other sockets. It is owned by exactly one
// goroutine, with the sockets it shares a UMEM with: no method is safe for
// concurrent use, and none allocates after Open.
type Socket struct {
	fd        int
	ifindex   int
	queue     int
	frameSize uint64
	umem      []byte
	frames    *frames
	mmaps     [][]byte

	fill, completion, rx, tx ring

	kicks, kickErrors atomic.Uint64

	// inMemory: UMEM and rings are ordinary memory whose kernel side a test
	// plays (memory.go); there is no file descriptor and nothing to unmap.
	inMemory bool
}

// Open creates a socket on queue of the interface, registers its UMEM, maps
// its rings, puts half of the frames on the fill ring and binds. A queue that
// is busy is tried again for up to busyRetry: the kernel releases a closed
// socket's queue in a work queue, so a restart, of this process or another,
// can find it still bound for a moment.
func Open(ifindex, queue int, opts Options) (*Socket, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(busyRetry)
	for {
		s, err := open(ifindex, queue, opts)
		if err == nil || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return s, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const busyRetry = 2 * time.Second

func open(ifindex, queue int, opts Options) (*Socket, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create af_xdp socket: %w", err)
	}
	s := &Socket{fd: fd, ifindex: ifindex, queue: queue, frameSize: uint64(opts.FrameSize)}
	if err := s.setup(opts); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Socket) setup(opts Options) error {
	if share := opts.ShareUMEM; share != nil {
		s.useFrames(share.frames)
	} else if err := s.registerUMEM(opts); err != nil {
		return err
	}
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING, unix.XDP_TX_RING} {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, opt, opts.RingSize); err != nil {
			return fmt.Errorf("size ring %d: %w", opt, err)
		}
	}
	// Copy mode caps each sendto at 32 frames unless told otherwise; a whole
	// ring per call keeps the syscall count per batch at one. Older kernels
	// lack the option, which only costs speed.
	_ = unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, opts.RingSize)

	var off unix.XDPMmapOffsets
	size := uint32(unsafe.Sizeof(off))
	if _, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&size)), 0); errno != 0 {
		return fmt.Errorf("read ring offsets: %w", errno)
	}
	n := uint32(opts.RingSize)
	if err := s.mapRing(&s.fill, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, n, 8); err != nil {
		return fmt.Errorf("map fill ring: %w", err)
	}
	if err := s.mapRing(&s.completion, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, n, 8); err != nil {
		return fmt.Errorf("map completion ring: %w", err)
	}
	descSize := uint32(unsafe.Sizeof(Desc{}))
	if err := s.mapRing(&s.rx, off.Rx, unix.XDP_PGOFF_RX_RING, n, descSize); err != nil {
		return fmt.Errorf("map rx ring: %w", err)
	}
	if err := s.mapRing(&s.tx, off.Tx, unix.XDP_PGOFF_TX_RING, n, descSize); err != nil {
		return fmt.Errorf("map tx ring: %w", err)
	}
	s.startRings()

	sa := unix.SockaddrXDP{Flags: unix.XDP_USE_NEED_WAKEUP, Ifindex: uint32(s.ifindex), QueueID: uint32(s.queue)}
	if opts.ZeroCopy {
		sa.Flags |= unix.XDP_ZEROCOPY
	} else {
		sa.Flags |= unix.XDP_COPY
	}
	if opts.ShareUMEM != nil {
		// A sharing socket takes its mode and wake-up flag from the first.
		sa.Flags, sa.SharedUmemFD = unix.XDP_SHARED_UMEM, uint32(opts.ShareUMEM.fd)
	}
	if err := unix.Bind(s.fd, &sa); err != nil {
		hint := ""
		if errors.Is(err, unix.EOPNOTSUPP) && opts.ZeroCopy {
			hint = " (the driver has no zero-copy AF_XDP; use copy mode)"
		} else if errors.Is(err, unix.EBUSY) {
			hint = " (another AF_XDP socket is bound to this queue)"
		} else if opts.ShareUMEM != nil {
			hint = " (a UMEM is shared across interfaces from Linux 5.10, in the first socket's copy or zero-copy mode)"
		}
		return fmt.Errorf("bind af_xdp socket to ifindex %d queue %d: %w%s", s.ifindex, s.queue, err, hint)
	}
	return nil
}

// registerUMEM maps the socket's own UMEM and registers it with the kernel.
func (s *Socket) registerUMEM(opts Options) error {
	umem, mapping, err := mapUMEM(opts.Frames * opts.FrameSize)
	if err != nil {
		return fmt.Errorf("map umem of %d frames: %w", opts.Frames, err)
	}
	s.useFrames(newFrames(umem, mapping, opts.FrameSize))
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&s.umem[0]))),
		Len:  uint64(len(s.umem)),
		Size: uint32(opts.FrameSize),
	}
	if err := setsockopt(s.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return fmt.Errorf("register umem: %w", err)
	}
	return nil
}

// useFrames makes f the socket's UMEM and free frames.
func (s *Socket) useFrames(f *frames) {
	f.refs++
	s.frames, s.umem, s.frameSize = f, f.umem, f.size
}

// startRings puts what the fill ring takes from the free frames on it, as a
// socket starts.
func (s *Socket) startRings() {
	// The tx ring starts empty: every slot is free for us to produce.
	s.tx.cachedConsumer = 0
	s.fill.cachedConsumer = 0
	s.Refill()
}

// SharesUMEM says whether s and o transmit from one UMEM: a frame one of
// them received can be put on the other's TX ring as it is.
func (s *Socket) SharesUMEM(o *Socket) bool { return s.frames == o.frames }

func (s *Socket) mapRing(r *ring, off unix.XDPRingOffset, pgoff int64, n, entrySize uint32) error {
	mem, err := unix.Mmap(s.fd, pgoff, int(off.Desc+uint64(n*entrySize)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}
	s.mmaps = append(s.mmaps, mem)
	base := unsafe.Pointer(&mem[0])
	r.producer = (*uint32)(unsafe.Add(base, off.Producer))
	r.consumer = (*uint32)(unsafe.Add(base, off.Consumer))
	r.flags = (*uint32)(unsafe.Add(base, off.Flags))
	r.descs = unsafe.Add(base, off.Desc)
	r.size = n
	r.mask = n - 1
	return nil
}

func setsockopt(fd, opt int, val unsafe.Pointer, size uintptr) error {
	if _, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt),
		uintptr(val), size, 0); errno != 0 {
		return errno
	}
	return nil
}

// FD is the socket's file descriptor, registered in the XDP program's XSKMAP.
func (s *Socket) FD() int { return s.fd }

// Queue is the interface queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// Frame returns the bytes of the frame a descriptor names. Writing to the
// slice writes the frame in place.
func (s *Socket) Frame(d Desc) []byte {
	return s.umem[d.Addr : d.Addr+uint64(d.Len) : s.frameBase(d.Addr)+s.frameSize]
}

// Buffer returns the whole frame buffer at addr (FrameSize bytes), for
// building a frame to transmit.
func (s *Socket) Buffer(addr uint64) []byte {
	base := s.frameBase(addr)
	return s.umem[base : base+s.frameSize]
}

// Receive moves up to len(descs) received descriptors into descs and returns
// how many. The frames belong to the caller until it transmits or frees them.
//
// It starts loading each frame's first cache line: in copy mode the kernel
// wrote a frame up to a ring's length of packets ago, and the kernel's work
// since has evicted it. Read one by one as the caller parses them, those
// misses cost 40-60 ns a packet in the bench (a probe timing the worker's
// parse and lookup in a real run, against a second pass over the same
// batch); started together here, they overlap.
func (s *Socket) Receive(descs []Desc) int {
	n := s.rx.available(uint32(len(descs)))
	cons := *s.rx.consumer
	for i := uint32(0); i < n; i++ {
		d := *s.rx.descAt(cons + i)
		descs[i] = d
		prefetch.Line(unsafe.Pointer(&s.umem[d.Addr]))
	}
	atomic.StoreUint32(s.rx.consumer, cons+n)
	return int(n)
}

// Transmit puts descs on the TX ring and returns how many fitted; the caller
// frees the rest. Call Kick after the batch.
func (s *Socket) Transmit(descs []Desc) int {
	n := s.tx.freeSlots(uint32(len(descs)))
	prod := *s.tx.producer
	for i := uint32(0); i < n; i++ {
		*s.tx.descAt(prod + i) = descs[i]
	}
	atomic.StoreUint32(s.tx.producer, prod+n)
	return int(n)
}

// Kick asks the kernel to send what the TX ring holds when it says it needs
// to be asked (copy mode always does). Errors other than "busy, try later"
// are counted, never fatal: the frames stay on the ring for the next kick.
func (s *Socket) Kick() {
	if s.tx.pending() == 0 || !s.tx.needWakeup() {
		return
	}
	s.kicks.Add(1)
	if s.inMemory {
		return // the test playing the kernel transmits when it likes
	}
	// Raw, as Poller.Wait: a kick never blocks, and the runtime's syscall
	// entry would only wake sysmon.
	_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0, unix.EAGAIN, unix.EBUSY, unix.EINTR, unix.ENOBUFS:
	default:
		s.kickErrors.Add(1)
	}
}

// Refill returns completed TX frames to the free frames and tops up the fill
// ring from them, keeping at least a quarter of the UMEM free for copies.
func (s *Socket) Refill() {
	f := s.frames
	n := s.completion.available(s.completion.size)
	cons := *s.completion.consumer
	for i := uint32(0); i < n; i++ {
		f.free = append(f.free, s.frameBase(*s.completion.addrAt(cons + i)))
	}
	atomic.StoreUint32(s.completion.consumer, cons+n)

	reserve := cap(f.free) / 4
	want := len(f.free) - reserve
	if want <= 0 {
		return
	}
	m := s.fill.freeSlots(uint32(want))
	prod := *s.fill.producer
	for i := uint32(0); i < m; i++ {
		last := len(f.free) - 1
		*s.fill.addrAt(prod + i) = f.free[last]
		f.free = f.free[:last]
	}
	atomic.StoreUint32(s.fill.producer, prod+m)
}

// Free gives a frame back to the socket's free frames (a dropped packet).
func (s *Socket) Free(addr uint64) {
	s.frames.free = append(s.frames.free, s.frameBase(addr))
}

// FrameBase is the UMEM address of the frame holding addr.
func (s *Socket) FrameBase(addr uint64) uint64 { return s.frameBase(addr) }

// frameBase maps an address anywhere inside a frame (RX descriptors point
// past the kernel's headroom) to the frame's first byte.
func (s *Socket) frameBase(addr uint64) uint64 { return addr &^ (s.frameSize - 1) }

// Alloc takes a free frame for a packet built or copied by user space.
func (s *Socket) Alloc() (addr uint64, ok bool) {
	f := s.frames
	last := len(f.free) - 1
	if last < 0 {
		return 0, false
	}
	addr = f.free[last]
	f.free = f.free[:last]
	return addr, true
}

// FreeFrames is how many frames user space holds free, in the UMEM the
// socket may share with others.
func (s *Socket) FreeFrames() int { return len(s.frames.free) }

// ZeroCopy asks the kernel whether the socket is bound in zero-copy mode (a
// socket sharing a UMEM has the mode of the socket it shares with).
func (s *Socket) ZeroCopy() (bool, error) {
	if s.inMemory {
		return false, nil
	}
	flags, err := unix.GetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_OPTIONS)
	if err != nil {
		return false, fmt.Errorf("read af_xdp options: %w", err)
	}
	return flags&unix.XDP_OPTIONS_ZEROCOPY != 0, nil
}

// Stats are the kernel's counters for this socket plus our kick counts.
type Stats struct {
	unix.XDPStatistics
	Kicks, KickErrors uint64
}

// Stats reads the kernel's per-socket counters. It is safe to call from the
// control plane while the owner runs: XDP_STATISTICS is a plain syscall.
func (s *Socket) Stats() (Stats, error) {
	var st Stats
	size := uint32(unsafe.Sizeof(st.XDPStatistics))
	if _, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st.XDPStatistics)), uintptr(unsafe.Pointer(&size)), 0); errno != 0 {
		return st, fmt.Errorf("read af_xdp statistics: %w", errno)
	}
	st.Kicks = s.kicks.Load()
	st.KickErrors = s.kickErrors.Load()
	return st, nil
}

// Wait blocks until the socket has something to receive or timeout (ms)
// passes: the idle back-off of a busy-polling worker.
func (s *Socket) Wait(timeoutMillis int) {
	fds := [1]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	_, _ = unix.Poll(fds[:], timeoutMillis)
}

// Close unmaps the rings and the UMEM and closes the socket.
func (s *Socket) Close() error {
	var first error
	if s.fd >= 0 {
		first = unix.Close(s.fd)
		s.fd = -1
	}
	for _, m := range s.mmaps {
		_ = unix.Munmap(m)
	}
	s.mmaps = nil
	if s.frames != nil {
		s.frames.release()
		s.frames = nil
	}
	s.umem = nil
	return first
}

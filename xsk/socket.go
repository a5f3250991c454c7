package xsk

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Options size one socket. Frames and RingSize must be powers of two.
type Options struct {
	Frames    int // UMEM frames (default 4096)
	FrameSize int // bytes per frame (default 2048)
	RingSize  int // descriptors per ring, all four rings (default 2048)
	// ZeroCopy asks for XDP_ZEROCOPY; veth supports copy mode only, so the
	// default (false) binds with XDP_COPY.
	ZeroCopy bool
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
	for _, v := range []struct {
		name  string
		value int
	}{{"frames", o.Frames}, {"frame size", o.FrameSize}, {"ring size", o.RingSize}} {
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
// own UMEM. It is owned by exactly one goroutine: no method is safe for
// concurrent use, and none allocates after Open.
type Socket struct {
	fd        int
	ifindex   int
	queue     int
	frameSize uint64
	umem      []byte
	// umemMapping is the mapping umem was cut from (nil in memory).
	umemMapping []byte
	mmaps       [][]byte

	fill, completion, rx, tx ring

	// free is a stack of UMEM frame addresses owned by user space and not in
	// any ring: popped for the fill ring and for copies, pushed back from the
	// completion ring and when a received frame is dropped.
	free []uint64

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
	var err error
	s.umem, s.umemMapping, err = mapUMEM(opts.Frames * opts.FrameSize)
	if err != nil {
		return fmt.Errorf("map umem of %d frames: %w", opts.Frames, err)
	}
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&s.umem[0]))),
		Len:  uint64(len(s.umem)),
		Size: uint32(opts.FrameSize),
	}
	if err := setsockopt(s.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return fmt.Errorf("register umem: %w", err)
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
	s.fillFrames(opts.Frames)

	flags := uint16(unix.XDP_USE_NEED_WAKEUP)
	if opts.ZeroCopy {
		flags |= unix.XDP_ZEROCOPY
	} else {
		flags |= unix.XDP_COPY
	}
	sa := unix.SockaddrXDP{Flags: flags, Ifindex: uint32(s.ifindex), QueueID: uint32(s.queue)}
	if err := unix.Bind(s.fd, &sa); err != nil {
		hint := ""
		if errors.Is(err, unix.EOPNOTSUPP) && opts.ZeroCopy {
			hint = " (the driver has no zero-copy AF_XDP; use copy mode)"
		} else if errors.Is(err, unix.EBUSY) {
			hint = " (another AF_XDP socket is bound to this queue)"
		}
		return fmt.Errorf("bind af_xdp socket to ifindex %d queue %d: %w%s", s.ifindex, s.queue, err, hint)
	}
	return nil
}

// fillFrames hands every UMEM frame to user space and puts what the fill
// ring takes on it, as a socket starts.
func (s *Socket) fillFrames(frames int) {
	// The tx ring starts empty: every slot is free for us to produce.
	s.tx.cachedConsumer = 0
	s.fill.cachedConsumer = 0

	s.free = make([]uint64, 0, frames)
	for i := frames - 1; i >= 0; i-- {
		s.free = append(s.free, uint64(i)*s.frameSize)
	}
	s.Refill()
}

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
func (s *Socket) Receive(descs []Desc) int {
	n := s.rx.available(uint32(len(descs)))
	cons := *s.rx.consumer
	for i := uint32(0); i < n; i++ {
		descs[i] = *s.rx.descAt(cons + i)
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

// Refill returns completed TX frames to the free list and tops up the fill
// ring from it, keeping at least reserve frames free for copies.
func (s *Socket) Refill() {
	n := s.completion.available(s.completion.size)
	cons := *s.completion.consumer
	for i := uint32(0); i < n; i++ {
		s.free = append(s.free, s.frameBase(*s.completion.addrAt(cons + i)))
	}
	atomic.StoreUint32(s.completion.consumer, cons+n)

	reserve := cap(s.free) / 4
	want := len(s.free) - reserve
	if want <= 0 {
		return
	}
	m := s.fill.freeSlots(uint32(want))
	prod := *s.fill.producer
	for i := uint32(0); i < m; i++ {
		last := len(s.free) - 1
		*s.fill.addrAt(prod + i) = s.free[last]
		s.free = s.free[:last]
	}
	atomic.StoreUint32(s.fill.producer, prod+m)
}

// Free gives a frame back to the socket (a dropped packet).
func (s *Socket) Free(addr uint64) {
	s.free = append(s.free, s.frameBase(addr))
}

// FrameBase is the UMEM address of the frame holding addr.
func (s *Socket) FrameBase(addr uint64) uint64 { return s.frameBase(addr) }

// frameBase maps an address anywhere inside a frame (RX descriptors point
// past the kernel's headroom) to the frame's first byte.
func (s *Socket) frameBase(addr uint64) uint64 { return addr &^ (s.frameSize - 1) }

// Alloc takes a free frame for a packet built or copied by user space.
func (s *Socket) Alloc() (addr uint64, ok bool) {
	last := len(s.free) - 1
	if last < 0 {
		return 0, false
	}
	addr = s.free[last]
	s.free = s.free[:last]
	return addr, true
}

// FreeFrames is how many frames user space holds free.
func (s *Socket) FreeFrames() int { return len(s.free) }

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
	if s.umemMapping != nil {
		_ = unix.Munmap(s.umemMapping)
	}
	s.umem, s.umemMapping = nil, nil
	return first
}

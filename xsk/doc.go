// Package xsk owns the AF_XDP socket: the UMEM, its four rings and every raw
// system call the dataplane makes (socket, setsockopt, mmap, bind, sendto,
// poll, sched_setaffinity). No other package of fastlvs imports x/sys/unix for
// the packet path.
//
// Why not github.com/asavie/xdp (v0.3.3, pinned in go.mod and benchmarked in
// asavie_test.go, built only with -tags asavie)? It serves well as a reference for the ABI, but on the
// packet path it costs correctness and speed:
//
//   - ring producer/consumer indexes are read and written as plain memory,
//     with no atomics, so the compiler may cache or reorder them against the
//     descriptor reads the kernel publishes (a data race by Go's memory model);
//   - GetDescs scans every frame of the UMEM on each call to find free ones:
//     BenchmarkFrameAlloc measured 52-80 ns per frame for it against 8 ns
//     for this package's free stack (alloc and free), with 4096 frames half
//     of them in the fill ring;
//   - Transmit panics on any errno other than EINTR/EAGAIN/EBUSY (ENOBUFS and
//     ENETDOWN happen in normal operation when a link flaps);
//   - no XDP_USE_NEED_WAKEUP, so every batch pays a sendto even when the kernel
//     does not need one, and no way to raise the copy-mode TX budget
//     (XDP_MAX_TX_SKB_BUDGET), which caps each sendto at 32 frames.
//
// A Socket has its own UMEM or shares another's (Options.ShareUMEM,
// XDP_SHARED_UMEM): a worker's sockets on all interfaces share one, so a
// frame received on one interface leaves by another from the frame it
// arrived in, with no copy. On a zero-copy NIC that is the difference
// between touching a packet's bytes once and twice; in copy mode (the only
// mode veth supports) the kernel copies every frame anyway, and the bench
// measured no change in the packet rate.
package xsk

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
// Each Socket has its own UMEM: a frame received on one socket is either sent
// back out on the same socket (in place, no copy) or copied into a frame of
// another socket. Copy mode is the only mode veth supports, and on it the
// kernel copies every frame anyway.
package xsk

package conntrack

import "unsafe"

// prefetch asks the CPU to start loading the cache line at addr without waiting for it. Unlike a plain load it
// retires at once, so a batch can have as many lines in flight as the core's miss buffers allow.
//
//go:noescape
func prefetch(addr unsafe.Pointer)

// prefetchPair is prefetch for the two cache lines from addr on (a whole record: the packet path reads both).
//
//go:noescape
func prefetchPair(addr unsafe.Pointer)

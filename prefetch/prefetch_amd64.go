// Package prefetch asks the CPU to start loading cache lines the packet path
// is about to read, so that a batch's misses overlap instead of coming one
// after another.
package prefetch

import "unsafe"

// Line starts loading the cache line at addr without waiting for it. Unlike
// a plain load it retires at once, so a batch can have as many lines in
// flight as the core's miss buffers allow.
//
//go:noescape
func Line(addr unsafe.Pointer)

// Pair is Line for the two cache lines from addr on.
//
//go:noescape
func Pair(addr unsafe.Pointer)

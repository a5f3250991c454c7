//go:build !amd64

// Package prefetch asks the CPU to start loading cache lines the packet path
// is about to read, so that a batch's misses overlap instead of coming one
// after another.
package prefetch

import "unsafe"

// Line is a no-op where fastlvs has no assembly for it: batched lookups
// still overlap misses through plain loads.
func Line(addr unsafe.Pointer) {}

// Pair is a no-op too.
func Pair(addr unsafe.Pointer) {}

//go:build !amd64

package conntrack

import "unsafe"

// prefetch is a no-op where fastlvs has no assembly for it; Prepare still overlaps misses through plain loads.
func prefetch(addr unsafe.Pointer) {}

// prefetchPair is a no-op too.
func prefetchPair(addr unsafe.Pointer) {}

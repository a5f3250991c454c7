package conntrack

import (
	"syscall"
	"unsafe"
)

// adviseHugePages asks the kernel to back a large slice with transparent huge pages. Random lookups in a table of
// millions of records touch a new 4 KiB page almost every time; with 4 KiB pages the TLB covers a few MB and every
// lookup pays one or two page walks (expensive under virtualisation). The heap memory of a fresh large allocation
// is not yet faulted in, so the advice takes effect as the table fills. Failure (THP disabled) only costs speed.
func adviseHugePages[T any](s []T) {
	if len(s) == 0 {
		return
	}
	var zero T
	const page = 4096
	base := unsafe.Pointer(unsafe.SliceData(s))
	size := uintptr(len(s)) * unsafe.Sizeof(zero)
	skip := (page - uintptr(base)%page) % page // to the first page boundary
	if size < skip+2*page {
		return
	}
	mem := unsafe.Slice((*byte)(unsafe.Add(base, skip)), (size-skip)&^(page-1))
	_ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE)
}

package conntrack

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"fastlvs/hugemem"
)

// mappedMin is the size from which a slice gets a mapping of its own: below it huge pages matter little.
const mappedMin = 4 << 20

// hugeSlice returns n zeroed elements for the table's records or index. Random lookups in a table of millions of
// records touch a new 4 KiB page almost every time, so a large slice gets a mapping of its own in huge pages
// (hugemem.Map), faulted in 2 MiB at a time as the table fills. (Memory from the Go heap may come back recycled
// and already faulted in 4 KiB pages, which the advice no longer changes, and its edges are not aligned.) T must
// hold no Go pointers: the collector does not scan this memory. The mapping is released when tab is collected.
// If the mapping fails, the slice comes from the heap and only speed is lost.
func hugeSlice[T any](tab *Table, n int) []T {
	var zero T
	size := int(uintptr(n) * unsafe.Sizeof(zero))
	if size < mappedMin {
		return make([]T, n)
	}
	mem, mapping, err := hugemem.Map(size)
	if err != nil {
		return make([]T, n)
	}
	runtime.AddCleanup(tab, func(mapping []byte) { _ = unix.Munmap(mapping) }, mapping)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem))), n)
}

// HugePageBytes reports how many bytes of the mappings holding the table's records and index the kernel backs
// with transparent huge pages. Large tables have mappings of their own (see hugeSlice), so the figure is the
// table's. It reads a file of the whole process: not for the packet path.
func (t *Table) HugePageBytes() (int, error) {
	return hugemem.Bytes(hugemem.Span(t.recs), hugemem.Span(t.index.slots), hugemem.Span(t.index.full))
}

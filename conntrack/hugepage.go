package conntrack

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on amd64 and arm64 (4 KiB base pages).
const hugePage = 2 << 20

// mappedMin is the size from which a slice gets a mapping of its own: below it huge pages matter little.
const mappedMin = 4 << 20

// hugeSlice returns n zeroed elements for the table's records or index. Random lookups in a table of millions of
// records touch a new 4 KiB page almost every time; with 4 KiB pages the TLB covers a few MB and every lookup pays
// one or two page walks (expensive under virtualisation). So a large slice gets an anonymous mapping of its own,
// aligned to 2 MiB and advised to use transparent huge pages before anything touches it: the kernel then faults
// it in 2 MiB at a time as the table fills. (Memory from the Go heap may come back recycled and already faulted
// in 4 KiB pages, which the advice no longer changes, and its edges are not aligned.) T must hold no Go
// pointers: the collector does not scan this memory. The mapping is released when tab is collected. If the
// mapping fails, or THP is disabled, the slice comes from the heap and only speed is lost.
func hugeSlice[T any](tab *Table, n int) []T {
	var zero T
	size := uintptr(n) * unsafe.Sizeof(zero)
	if size < mappedMin {
		return make([]T, n)
	}
	mem, err := syscall.Mmap(-1, 0, int(size+hugePage), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return make([]T, n)
	}
	skip := (hugePage - uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%hugePage) % hugePage
	_ = syscall.Madvise(mem[skip:skip+size], syscall.MADV_HUGEPAGE)
	runtime.AddCleanup(tab, func(mem []byte) { _ = syscall.Munmap(mem) }, mem)
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[skip])), n)
}

// HugePageBytes reports how many bytes of the mappings holding the table's records and index the kernel backs
// with transparent huge pages (AnonHugePages in /proc/self/smaps). Large tables have mappings of their own (see
// hugeSlice), so the figure is the table's. It reads a file of the whole process: not for the packet path.
func (t *Table) HugePageBytes() (int, error) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("read huge page use: %w", err)
	}
	regions := [][2]uintptr{spanOf(t.recs), spanOf(t.index.slots), spanOf(t.index.full)}
	total := 0
	var overlaps bool
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Bytes()
		if lo, hi, ok := parseMappingRange(line); ok {
			overlaps = false
			for _, r := range regions {
				overlaps = overlaps || (lo < r[1] && r[0] < hi)
			}
			continue
		}
		if rest, ok := bytes.CutPrefix(line, []byte("AnonHugePages:")); overlaps && ok {
			kb, err := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))))
			if err != nil {
				return 0, fmt.Errorf("read huge page use: %q: %w", line, err)
			}
			total += kb << 10
		}
	}
	return total, nil
}

// spanOf is the address range [start, end) of a slice's elements.
func spanOf[T any](s []T) [2]uintptr {
	var zero T
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return [2]uintptr{base, base + uintptr(len(s))*unsafe.Sizeof(zero)}
}

// parseMappingRange reads the "start-end" that opens a mapping's header line in smaps.
func parseMappingRange(line []byte) (lo, hi uintptr, ok bool) {
	field, _, _ := bytes.Cut(line, []byte(" "))
	a, b, found := bytes.Cut(field, []byte("-"))
	if !found {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(string(a), 16, 64)
	h, err2 := strconv.ParseUint(string(b), 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}

package conntrack

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
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

// HugePageBytes reports how many bytes of the mappings holding the table's records and index the kernel backs
// with transparent huge pages (AnonHugePages in /proc/self/smaps). The advice splits those regions into mappings
// of their own, so the figure is the table's. It reads a file of the whole process: not for the packet path.
func (t *Table) HugePageBytes() (int, error) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("read huge page use: %w", err)
	}
	regions := [][2]uintptr{spanOf(t.recs), spanOf(t.index.slots)}
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

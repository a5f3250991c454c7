// Package hugemem maps the large, randomly read arrays of the packet path (connection tables, UMEM) in
// transparent huge pages, and reports how much of them the kernel really backs that way. With 4 KiB pages a
// random read over megabytes pays a page walk nearly every time, dear under virtualisation; a 2 MiB page
// covers 512 of them with one TLB entry.
package hugemem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PageSize is the size of a transparent huge page on amd64 and arm64 (4 KiB base pages).
const PageSize = 2 << 20

// Map returns size bytes of anonymous, zeroed memory aligned to PageSize and advised to use transparent huge
// pages before anything touches it, so the kernel faults it in 2 MiB at a time. mapping is what to Munmap; mem
// is the aligned part inside it. The memory is reserved, not committed (MAP_NORESERVE); Populate commits it.
// Where THP is off, the advice changes nothing and the memory comes in 4 KiB pages.
func Map(size int) (mem, mapping []byte, err error) {
	mapping, err = unix.Mmap(-1, 0, size+PageSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, nil, fmt.Errorf("map %d bytes: %w", size, err)
	}
	skip := (PageSize - int(uintptr(unsafe.Pointer(unsafe.SliceData(mapping)))%PageSize)) % PageSize
	mem = mapping[skip : skip+size : skip+size]
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	return mem, mapping, nil
}

// Available says why Map's memory would come in 4 KiB pages: nil when the
// kernel grants transparent huge pages to memory advised to use them.
func Available() error {
	thp, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return fmt.Errorf("transparent huge pages: %w", err)
	}
	if bytes.Contains(thp, []byte("[never]")) {
		return fmt.Errorf("transparent huge pages are off (%s)", bytes.TrimSpace(thp))
	}
	return nil
}

// Populate faults mem in now, for memory the kernel writes into from the first moment (a UMEM).
func Populate(mem []byte) {
	if err := unix.Madvise(mem, unix.MADV_POPULATE_WRITE); err != nil {
		for i := 0; i < len(mem); i += os.Getpagesize() { // kernels before 5.14
			mem[i] = 0
		}
	}
}

// Span is the address range [start, end) of a slice's elements.
func Span[T any](s []T) [2]uintptr {
	var zero T
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return [2]uintptr{base, base + uintptr(len(s))*unsafe.Sizeof(zero)}
}

// Bytes reports how many bytes of the mappings overlapping regions the kernel backs with transparent huge
// pages (AnonHugePages in /proc/self/smaps). It reads a file of the whole process: not for the packet path.
func Bytes(regions ...[2]uintptr) (int, error) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("read huge page use: %w", err)
	}
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

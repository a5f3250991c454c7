package hugemem

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestMapIsAlignedAndHuge: Map returns exactly the size asked for, on a 2 MiB boundary, and once touched the
// kernel backs it with huge pages (where THP is on, as the tests require), which Bytes reports.
func TestMapIsAlignedAndHuge(t *testing.T) {
	if err := Available(); err != nil {
		t.Fatalf("this test needs transparent huge pages (always or madvise): %v", err)
	}
	const size = 3 * PageSize
	mem, mapping, err := Map(size)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mapping)
	if len(mem) != size || uintptr(unsafe.Pointer(&mem[0]))%PageSize != 0 {
		t.Fatalf("mapped %d bytes at %p, want %d on a 2 MiB boundary", len(mem), &mem[0], size)
	}
	if huge, err := Bytes(Span(mem)); err != nil || huge != 0 {
		t.Fatalf("untouched memory: %d bytes in huge pages (%v), want 0", huge, err)
	}
	Populate(mem)
	if huge, err := Bytes(Span(mem)); err != nil || huge != size {
		t.Fatalf("populated memory: %d of %d bytes in huge pages (%v)", huge, size, err)
	}
}

func TestParseMappingRange(t *testing.T) {
	lo, hi, ok := parseMappingRange([]byte("7f0000200000-7f0000800000 rw-p 00000000 00:00 0"))
	if !ok || lo != 0x7f0000200000 || hi != 0x7f0000800000 {
		t.Errorf("parsed %x-%x %v", lo, hi, ok)
	}
	if _, _, ok := parseMappingRange([]byte("AnonHugePages:      2048 kB")); ok {
		t.Error("a field line parsed as a mapping")
	}
}

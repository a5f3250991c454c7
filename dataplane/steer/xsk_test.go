package steer

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// newXSK returns an AF_XDP socket with a UMEM and an RX ring, the minimum an
// XSKMAP accepts. It is not bound to a device: BPF_PROG_TEST_RUN only reports
// the redirect verdict, it does not deliver the frame.
func newXSK(tb testing.TB) int {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("create AF_XDP socket: %v", err)
	}
	tb.Cleanup(func() { unix.Close(fd) })

	const frameSize, frames = 4096, 16
	umem, err := unix.Mmap(-1, 0, frameSize*frames, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		tb.Fatalf("map umem: %v", err)
	}
	tb.Cleanup(func() { unix.Munmap(umem) })
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&umem[0]))), Len: uint64(len(umem)), Size: frameSize}
	if _, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); errno != 0 {
		tb.Fatalf("register umem: %v", errno)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_RX_RING, frames); err != nil {
		tb.Fatalf("size rx ring: %v", err)
	}
	return fd
}

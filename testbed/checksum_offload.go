package testbed

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool's legacy ioctl interface (include/uapi/linux/ethtool.h): enough to
// switch TX checksum offload without the ethtool binary, which a fresh
// machine may lack.
const (
	siocEthtool      = 0x8946
	ethtoolSetTxCsum = 0x00000017 // ETHTOOL_STXCSUM
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte // pad to sizeof(struct ifreq)
}

// setTxChecksumOffload switches iface's TX checksum offload in h's namespace.
func (h *Host) setTxChecksumOffload(iface string, on bool) error {
	return h.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket for ethtool ioctl: %w", err)
		}
		defer unix.Close(fd)
		value := ethtoolValue{cmd: ethtoolSetTxCsum}
		if on {
			value.data = 1
		}
		var req ifreqData
		copy(req.name[:], iface)
		req.data = unsafe.Pointer(&value)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), siocEthtool, uintptr(unsafe.Pointer(&req))); errno != 0 {
			return fmt.Errorf("set tx checksum offload of %s in %s: %w", iface, h.Name, errno)
		}
		return nil
	})
}

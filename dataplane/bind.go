package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"fastlvs/xsk"
)

// BindMode is how the AF_XDP sockets bind to their queues.
type BindMode uint8

const (
	// BindCopy binds in copy mode, which every driver has: the kernel
	// copies each frame between its buffers and the UMEM.
	BindCopy BindMode = iota
	// BindZeroCopy binds in zero-copy mode and fails where the driver has
	// none: the NIC receives into and transmits from the UMEM itself.
	BindZeroCopy
	// BindAuto binds in zero-copy mode where the driver has it and in copy
	// mode elsewhere.
	BindAuto
)

// ParseBindMode reads copy, zerocopy or auto.
func ParseBindMode(s string) (BindMode, error) {
	switch s {
	case "copy":
		return BindCopy, nil
	case "zerocopy":
		return BindZeroCopy, nil
	case "auto":
		return BindAuto, nil
	}
	return 0, fmt.Errorf("unknown mode %q (want copy, zerocopy or auto)", s)
}

// openSocket opens worker q's socket on port. Given shareWith, it shares the
// UMEM of shareWith[q], and with it that socket's mode; a kernel that cannot
// share a UMEM across interfaces (before 5.10), or a port whose driver lacks
// the first port's zero-copy mode, gets a socket with a UMEM of its own, and
// frames crossing to it are copied. The first port's UMEM is sized for
// every port.
func openSocket(port *Port, q int, cfg Config, shareWith []*xsk.Socket) (*xsk.Socket, error) {
	frames := cfg.Frames * len(cfg.Interfaces)
	if shareWith != nil {
		sock, err := xsk.Open(port.Index, q, xsk.Options{RingSize: cfg.RingSize, ShareUMEM: shareWith[q]})
		if err == nil || errors.Is(err, syscall.EBUSY) {
			return sock, err
		}
		slog.Warn("cannot share the first port's UMEM; frames crossing ports will be copied",
			"iface", port.Name, "queue", q, "err", err)
		frames = cfg.Frames
	}
	opts := xsk.Options{Frames: frames, RingSize: cfg.RingSize, ZeroCopy: cfg.Bind != BindCopy}
	sock, err := xsk.Open(port.Index, q, opts)
	if err == nil || !errors.Is(err, syscall.EOPNOTSUPP) || cfg.Bind == BindCopy {
		return sock, err
	}
	if cfg.Bind == BindZeroCopy {
		return nil, fmt.Errorf("%w; af_xdp_bind: auto falls back to copy mode", err)
	}
	opts.ZeroCopy = false
	return xsk.Open(port.Index, q, opts)
}

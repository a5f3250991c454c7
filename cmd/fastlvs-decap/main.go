// Command fastlvs-decap runs on a real server behind a fastlvs director in
// tunnel mode (forward: tun). It attaches an XDP program to the interface
// the tunnel packets arrive on; the program takes their outer IPIP/IPv6
// header off, so the kernel delivers the client's own packet to the VIP
// (held on lo, ARP-silent, as for direct routing) and the reply goes
// straight to the client. No ipip or ip6_tunnel kernel module is needed.
//
//	fastlvs-decap --iface eth0 [--stats-interval 10s]
//
// It runs until SIGTERM or SIGINT; the program is detached when it exits.
// The addresses tunnel packets may be sent to follow the kernel's: every
// address of the host, refreshed whenever one is added or removed.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/vishvananda/netlink"

	"fastlvs/cmd/internal/cli"
	"fastlvs/tunnel"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("fastlvs-decap", pflag.ContinueOnError)
	cli.SetUsage(fs, "Usage:\n  fastlvs-decap --iface IFACE [--gue-port P]... [--allow-source PREFIX]... [--stats-interval D]\n")
	iface := fs.String("iface", "", "interface the tunnel packets arrive on (required)")
	statsInterval := fs.Duration("stats-interval", 0, "log the decap counters this often (0 = only at exit)")
	guePorts := fs.UintSlice("gue-port", nil, "also open GUE arriving on this UDP port (repeatable; the director's gue_port)")
	allowed := fs.StringSlice("allow-source", nil, "open tunnel packets only from this address or prefix (repeatable: the directors; default any)")
	showVersion := fs.Bool("version", false, "print the version and commit, then exit")
	logFlags := cli.AddLogFlags(fs)
	if code, ok := cli.Parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if *showVersion {
		fmt.Fprintln(stdout, cli.VersionLine("fastlvs-decap"))
		return 0
	}
	if *iface == "" {
		fmt.Fprintln(stderr, "fastlvs-decap: --iface is required")
		fs.Usage()
		return 2
	}
	if err := logFlags.Setup(stderr); err != nil {
		fmt.Fprintln(stderr, "fastlvs-decap:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var ports []uint16
	for _, p := range *guePorts {
		if p < 1 || p > 65535 {
			fmt.Fprintf(stderr, "fastlvs-decap: --gue-port %d is not a port\n", p)
			return 2
		}
		ports = append(ports, uint16(p))
	}
	var sources []netip.Prefix
	for _, a := range *allowed {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			addr, aerr := netip.ParseAddr(a)
			if aerr != nil {
				fmt.Fprintf(stderr, "fastlvs-decap: --allow-source %q is neither an address nor a prefix\n", a)
				return 2
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		sources = append(sources, p)
	}
	if err := serve(ctx, *iface, ports, sources, *statsInterval); err != nil {
		fmt.Fprintln(stderr, "fastlvs-decap:", err)
		return 1
	}
	return 0
}

// serve attaches the program to iface and keeps its local addresses in step
// with the kernel's until ctx ends.
func serve(ctx context.Context, iface string, guePorts []uint16, sources []netip.Prefix, statsInterval time.Duration) error {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("find interface %s: %w", iface, err)
	}
	decap, err := tunnel.AttachDecap(link.Attrs().Index)
	if err != nil {
		return fmt.Errorf("attach decap program to %s: %w", iface, err)
	}
	defer decap.Close()
	if err := decap.SetGUEPorts(guePorts); err != nil {
		return err
	}
	if err := decap.SetAllowedSources(sources); err != nil {
		return err
	}
	slog.Info("fastlvs-decap running", "iface", iface, "xdp_mode", decap.Mode())
	defer logStats(decap, "fastlvs-decap stopped")

	updates := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.AddrSubscribe(updates, done); err != nil {
		return fmt.Errorf("subscribe to address changes: %w", err)
	}
	// An address added between the attach and the subscription was missed.
	if err := decap.RefreshLocalAddresses(); err != nil {
		return err
	}
	var tick <-chan time.Time
	if statsInterval > 0 {
		ticker := time.NewTicker(statsInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-updates:
			if err := decap.RefreshLocalAddresses(); err != nil {
				slog.Warn("refresh decap addresses", "err", err)
			}
		case <-tick:
			logStats(decap, "decap counters")
		}
	}
}

func logStats(decap *tunnel.Decap, msg string) {
	s, err := decap.Stats()
	if err != nil {
		slog.Warn("read decap counters", "err", err)
		return
	}
	slog.Info(msg, "decapsulated", s.Decapsulated(), "ipip", s.Decap4in4, "6in4", s.Decap6in4,
		"4in6", s.Decap4in6, "6in6", s.Decap6in6, "gue", s.DecapGUE, "passed", s.Passed,
		"not_local", s.PassedNotLocal, "malformed", s.PassedMalformed,
		"dropped_source", s.DroppedSource, "dropped_inner", s.DroppedInner)
}

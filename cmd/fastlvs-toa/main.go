// Command fastlvs-toa runs on a real server behind a fastlvs FULLNAT
// director whose service has client_address: toa. It attaches the TOA
// reader (package toa: a sock_ops eBPF program) to a cgroup v2 directory and
// pins its map, so that applications of that cgroup learn each accepted
// connection's real client with toa.OpenReader and Reader.ClientOf:
//
//	fastlvs-toa --cgroup /sys/fs/cgroup/web --pin /sys/fs/bpf/fastlvs-toa
//
// It runs until SIGTERM or SIGINT; the program is detached and the pin
// removed when it exits.
//
//	fastlvs-toa echo --pin /sys/fs/bpf/fastlvs-toa --listen :80 --name web1
//
// is an example application (and the end-to-end tests' real server): an
// HTTP server that answers every request with "<name> <client address:port>"
// as the TOA told it (or "<name> none" when the connection carried none).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"fastlvs/toa"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "echo" {
		return runEcho(args[1:], stderr)
	}
	fs := pflag.NewFlagSet("fastlvs-toa", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	cgroup := fs.String("cgroup", "", "cgroup v2 directory whose sockets keep their TOA (required)")
	pin := fs.String("pin", "", "where to pin the TOA map on a bpf file system, for applications (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cgroup == "" || *pin == "" {
		fmt.Fprintln(stderr, "fastlvs-toa: --cgroup and --pin are required")
		return 2
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	prog, err := toa.Attach(*cgroup)
	if err != nil {
		fmt.Fprintln(stderr, "fastlvs-toa:", err)
		return 1
	}
	defer prog.Close()
	if err := prog.Pin(*pin); err != nil {
		fmt.Fprintln(stderr, "fastlvs-toa:", err)
		return 1
	}
	defer prog.Unpin()
	slog.Info("fastlvs-toa running", "cgroup", *cgroup, "pin", *pin)
	<-ctx.Done()
	slog.Info("fastlvs-toa stopped")
	return 0
}

// runEcho is the example application.
func runEcho(args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet("fastlvs-toa echo", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	pin := fs.String("pin", "", "the TOA map fastlvs-toa pinned (required)")
	listen := fs.String("listen", ":80", "address to serve HTTP on")
	name := fs.String("name", "", "name to answer with (default: the host name)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pin == "" {
		fmt.Fprintln(stderr, "fastlvs-toa echo: --pin is required")
		return 2
	}
	if *name == "" {
		*name, _ = os.Hostname()
	}
	reader, err := toa.OpenReader(*pin)
	if err != nil {
		fmt.Fprintln(stderr, "fastlvs-toa echo:", err)
		return 1
	}
	defer reader.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "fastlvs-toa echo:", err)
		return 1
	}
	type clientKey struct{}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		// The connection's client, read once when it is accepted.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			answer := "none"
			if tc, ok := c.(*net.TCPConn); ok {
				if client, ok, err := reader.ClientOf(tc); err != nil {
					answer = "error:" + err.Error()
				} else if ok {
					answer = client.String()
				}
			}
			return context.WithValue(ctx, clientKey{}, answer)
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s\n", *name, r.Context().Value(clientKey{}))
		}),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintln(stderr, "fastlvs-toa echo serving on", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "fastlvs-toa echo:", err)
		return 1
	}
	return 0
}

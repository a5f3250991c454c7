// Command fastlvs is the director daemon:
//
//	fastlvs --iface eth1 --config /etc/fastlvs/fastlvs.yaml   run the director
//	fastlvs demo                                             a sandbox with real traffic
//	fastlvs import keepalived keepalived.conf                translate a keepalived config
//	fastlvs bgp [--drain]                                    BGP sessions and announced VIPs
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"fastlvs/control"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "demo":
			return runDemo(args[1:], stdout, stderr)
		case "import":
			return runImport(args[1:], stdout, stderr)
		case "bgp":
			return runBGP(args[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "fastlvs", version)
			return 0
		}
	}
	return runDirector(args, stdout, stderr)
}

var version = "dev"

func runDirector(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("fastlvs", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.StringP("config", "c", "", "configuration file (YAML)")
	watch := fs.Bool("watch", true, "reload when the config file changes (SIGHUP always reloads)")
	statsInterval := fs.Duration("stats-interval", 0, "print per-worker rates to stdout this often (0 = never)")
	control.RegisterConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, nil)))
	daemon, err := control.NewDaemon(*configPath, fs)
	if err != nil {
		fmt.Fprintln(stderr, "fastlvs:", err)
		return 1
	}
	daemon.WatchConfig = *watch
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if *statsInterval > 0 {
		go control.RoutinePrintStats(ctx, daemon.Dataplane(), *statsInterval, stdout)
	}
	if err := daemon.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "fastlvs:", err)
		return 1
	}
	return 0
}

// settle is how long to wait after attaching XDP: attaching resets the link.
const settle = 500 * time.Millisecond

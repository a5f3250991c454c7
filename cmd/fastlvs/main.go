// Command fastlvs is the director daemon:
//
//	fastlvs --config /etc/fastlvs/fastlvs.yaml [--iface eth1]   run the director
//	fastlvs demo                                               a sandbox with real traffic
//	fastlvs import keepalived keepalived.conf                  translate a keepalived config
//	fastlvs version                                            print the version and commit
//	fastlvs passwd --users-file F --role admin NAME           add a web monitor user
//	fastlvs bgp [--drain]                                      BGP sessions and announced VIPs
package main

import (
	"context"
	"fastlvs/control/config"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"fastlvs/cmd/internal/cli"
	"fastlvs/control"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const directorUsage = `Usage:
  fastlvs [flags]                                  run the director
  fastlvs demo [--duration D] [--max-requests N]   a sandbox of namespaces with real traffic
  fastlvs import keepalived KEEPALIVED.CONF [-o OUT.yaml]
                                                   translate a keepalived configuration
  fastlvs bgp [--drain]                            BGP sessions and announced VIPs; --drain withdraws them and stops
  fastlvs version                                  print the version and commit
  fastlvs help                                     print this help

Run "fastlvs COMMAND --help" for a command's flags.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "demo":
			return runDemo(args[1:], stdout, stderr)
		case "import":
			return runImport(args[1:], stdout, stderr)
		case "bgp":
			return runBGP(args[1:], stdout, stderr)
		case "passwd":
			return runPasswd(args[1:], os.Stdin, stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, cli.VersionLine("fastlvs"))
			return 0
		case "help":
			args = []string{"--help"}
		}
	}
	return runDirector(args, stdout, stderr)
}

func runDirector(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("fastlvs", pflag.ContinueOnError)
	cli.SetUsage(fs, directorUsage)
	configPath := fs.StringP("config", "c", "", "configuration file (YAML)")
	watch := fs.Bool("watch", true, "reload when the config file changes (SIGHUP always reloads)")
	statsInterval := fs.Duration("stats-interval", 0, "print per-worker rates to stdout this often (0 = never)")
	showVersion := fs.Bool("version", false, "print the version and commit, then exit")
	logFlags := cli.AddLogFlags(fs)
	config.RegisterConfigFlags(fs)
	if code, ok := cli.Parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if *showVersion {
		fmt.Fprintln(stdout, cli.VersionLine("fastlvs"))
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fastlvs: unknown command %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if err := logFlags.Setup(stderr); err != nil {
		fmt.Fprintln(stderr, "fastlvs:", err)
		return 2
	}
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

package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"fastlvs/cmd/internal/cli"
	"fastlvs/control/api"
)

const bgpUsage = "Usage:\n  fastlvs bgp [--api ADDRESS] [--drain]\n"

// runBGP prints the running daemon's BGP sessions and announced prefixes
// (`fastlvs bgp`), or starts a drain (`fastlvs bgp --drain`).
func runBGP(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("fastlvs bgp", pflag.ContinueOnError)
	cli.SetUsage(fs, bgpUsage)
	apiFlag := fs.String("api", "", "daemon API address (default $FASTLVS_API or "+api.DefaultAddress+")")
	drain := fs.Bool("drain", false, "withdraw every VIP and stop the daemon after its drain_grace")
	if code, ok := cli.Parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fastlvs bgp: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	client := api.NewClient(api.ResolveAddress(*apiFlag), os.Getenv("FASTLVS_API_TOKEN"))
	if *drain {
		if err := client.Drain(); err != nil {
			fmt.Fprintln(stderr, "fastlvs bgp:", err)
			return 1
		}
		fmt.Fprintln(stdout, "draining: VIPs withdrawn; the daemon stops after its drain_grace")
		return 0
	}
	status, err := client.BGP()
	if err != nil {
		fmt.Fprintln(stderr, "fastlvs bgp:", err)
		return 1
	}
	printBGPStatus(stdout, status)
	return 0
}

func printBGPStatus(w io.Writer, status api.BGPStatus) {
	if !status.Enabled {
		fmt.Fprintln(w, "BGP is not configured")
		return
	}
	state := "announcing"
	if status.Draining {
		state = "draining"
	}
	fmt.Fprintf(w, "AS %d, router id %s, %s\n", status.ASN, status.RouterID, state)
	table := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "PEER\tAS\tSTATE")
	for _, s := range status.Sessions {
		fmt.Fprintf(table, "%s\t%d\t%s\n", s.Peer, s.ASN, s.State)
	}
	table.Flush()
	fmt.Fprintf(w, "announced prefixes: %d\n", len(status.Announced))
	for _, p := range status.Announced {
		fmt.Fprintln(w, " ", p)
	}
}

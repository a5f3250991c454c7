package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"fastlvs/cmd/internal/cli"
	"fastlvs/control/keepalived"
)

const importUsage = "Usage:\n  fastlvs import keepalived KEEPALIVED.CONF [-o OUT.yaml]\n"

// runImport translates another load balancer's configuration into fastlvs
// YAML: `fastlvs import keepalived PATH [-o out.yaml]`. args are the words
// after "import". The YAML goes to stdout unless -o names a file; every
// construct that was not translated is listed on stderr. It returns the exit
// status: 0 converted (even with warnings), 1 failed, 2 usage error.
func runImport(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("fastlvs import", pflag.ContinueOnError)
	cli.SetUsage(fs, importUsage)
	output := fs.StringP("output", "o", "", "write the fastlvs YAML to this file instead of stdout")
	if code, ok := cli.Parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 2 || fs.Arg(0) != "keepalived" {
		fmt.Fprintln(stderr, "fastlvs import: want keepalived and one file")
		fs.Usage()
		return 2
	}
	path := fs.Arg(1)
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "fastlvs import: %v\n", err)
		return 1
	}
	out, warnings, err := keepalived.Convert(src)
	for _, warning := range warnings {
		// "line 12: text" reads "keepalived.conf:12: text", like a compiler message.
		fmt.Fprintf(stderr, "%s:%s\n", path, strings.TrimPrefix(warning, "line "))
	}
	if err != nil {
		fmt.Fprintf(stderr, "fastlvs import: %s: %v\n", path, err)
		return 1
	}
	if *output == "" {
		if _, err := stdout.Write(out); err != nil {
			fmt.Fprintf(stderr, "fastlvs import: write output: %v\n", err)
			return 1
		}
	} else if err := os.WriteFile(*output, out, 0o644); err != nil {
		fmt.Fprintf(stderr, "fastlvs import: write output: %v\n", err)
		return 1
	}
	if len(warnings) > 0 {
		fmt.Fprintf(stderr, "fastlvs import: %d construct(s) not translated; review them before use\n", len(warnings))
	}
	return 0
}

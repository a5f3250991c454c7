// Package cli holds the command-line manners the fastlvs commands share:
// flag errors printed with usage (exit 2), --help exiting 0, the version
// stamped at build, and slog set up from --log-format and --log-level.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// Parse parses args into fs. When done is false the caller returns code: 0
// after --help (usage printed to stdout), 2 after a parse error (the error and
// the usage printed to stderr).
func Parse(fs *pflag.FlagSet, args []string, stdout, stderr io.Writer) (code int, done bool) {
	// pflag prints nothing itself under ContinueOnError; we print below.
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if err == nil {
		fs.SetOutput(stderr)
		return 0, true
	}
	if errors.Is(err, pflag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0, false
	}
	fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
	fs.SetOutput(stderr)
	fs.Usage()
	return 2, false
}

// SetUsage makes fs's usage print header (the command lines, one per line)
// and then the flags, to whichever output Parse chose.
func SetUsage(fs *pflag.FlagSet, header string) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), header)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fmt.Fprint(fs.Output(), fs.FlagUsages())
	}
}

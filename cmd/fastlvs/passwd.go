package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"fastlvs/control/monitor"
)

// runPasswd adds or updates one user of the web monitor's users file. The
// password is read from the terminal without echo (twice), or as the first
// line of stdin when stdin is not a terminal.
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("fastlvs passwd", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	usersFile := fs.String("users-file", "/etc/fastlvs/monitor-users", "the monitor's users file (monitor.users_file)")
	role := fs.String("role", string(monitor.RoleViewer), "admin (may change weights) or viewer (sees only)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fastlvs passwd [--users-file FILE] [--role admin|viewer] NAME")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	name := fs.Arg(0)
	password, err := readPassword(stdin, stderr)
	if err == nil {
		err = monitor.SetUser(*usersFile, name, monitor.Role(*role), password)
	}
	if err != nil {
		fmt.Fprintln(stderr, "fastlvs passwd:", err)
		return 1
	}
	fmt.Fprintf(stdout, "user %s (%s) saved in %s\n", name, *role, *usersFile)
	return 0
}

func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(first) != string(second) {
			return "", errors.New("the passwords differ")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

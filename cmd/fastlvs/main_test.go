package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

func runCaptured(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUnknownFlagPrintsErrorAndUsageAndExits2(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"demo", "--bogus"}, {"import", "--bogus"}} {
		code, stdout, stderr := runCaptured(args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if stdout != "" {
			t.Errorf("%v: stdout %q, want nothing", args, stdout)
		}
		if !strings.Contains(stderr, "unknown flag: --bogus") || !strings.Contains(stderr, "Usage:") {
			t.Errorf("%v: stderr lacks the error or the usage:\n%s", args, stderr)
		}
	}
}

func TestHelpExits0AndListsEverySubcommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, stdout, _ := runCaptured(args...)
		if code != 0 {
			t.Errorf("%v: exit %d, want 0", args, code)
		}
		for _, want := range []string{"fastlvs demo", "fastlvs import keepalived", "fastlvs version", "--config", "--log-format", "--log-level", "--iface"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, stdout)
			}
		}
	}
}

func TestUnknownCommandExits2(t *testing.T) {
	code, _, stderr := runCaptured("frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestImportWithoutFileExits2WithUsage(t *testing.T) {
	code, _, stderr := runCaptured("import", "keepalived")
	if code != 2 || !strings.Contains(stderr, "fastlvs import keepalived KEEPALIVED.CONF") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestVersionPrintsVersionAndCommit(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, _ := runCaptured(args...)
		if code != 0 || !strings.HasPrefix(stdout, "fastlvs ") || !strings.Contains(stdout, "(commit ") {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
}

func TestBadLogFlagValuesExit2(t *testing.T) {
	for _, args := range [][]string{{"--log-format", "xml"}, {"--log-level", "loud"}} {
		code, _, stderr := runCaptured(args...)
		if code != 2 || !strings.Contains(stderr, args[0]) {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// The man page documents every flag the director and its commands take.
func TestManPageListsEveryFlag(t *testing.T) {
	page, err := os.ReadFile("../../deploy/man/fastlvs.8")
	if err != nil {
		t.Fatal(err)
	}
	flag := regexp.MustCompile(`--[a-z][a-z-]*`)
	for _, args := range [][]string{{"--help"}, {"demo", "--help"}, {"import", "--help"}, {"bgp", "--help"}} {
		_, help, _ := runCaptured(args...)
		names := flag.FindAllString(help, -1)
		if len(names) == 0 {
			t.Fatalf("%v: no flags in the help:\n%s", args, help)
		}
		for _, name := range names {
			if !strings.Contains(string(page), strings.ReplaceAll(name, "-", `\-`)) {
				t.Errorf("fastlvs.8 does not mention %s (from %v)", name, args)
			}
		}
	}
}

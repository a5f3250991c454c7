package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func setupLogging(t *testing.T, args ...string) (*bytes.Buffer, error) {
	t.Helper()
	previous := slog.Default()
	t.Cleanup(func() { slog.SetDefault(previous) })
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	flags := AddLogFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	return &out, flags.Setup(&out)
}

func TestJSONLogsAtDebugLevel(t *testing.T) {
	out, err := setupLogging(t, "--log-format", "json", "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	slog.Debug("probe", "worker", 3)
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %q: %v", out, err)
	}
	if line["msg"] != "probe" || line["level"] != "DEBUG" || line["worker"] != 3.0 {
		t.Fatalf("log line %v", line)
	}
}

func TestTextLogsDropBelowLevel(t *testing.T) {
	out, err := setupLogging(t, "--log-level", "warn")
	if err != nil {
		t.Fatal(err)
	}
	slog.Info("hidden")
	slog.Warn("shown")
	if strings.Contains(out.String(), "hidden") || !strings.Contains(out.String(), "level=WARN msg=shown") {
		t.Fatalf("text log %q", out)
	}
}

func TestBadLogChoicesAreRefused(t *testing.T) {
	if _, err := setupLogging(t, "--log-format", "xml"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("xml format: %v", err)
	}
	if _, err := setupLogging(t, "--log-level", "loud"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("loud level: %v", err)
	}
}

func TestVersionLineUsesStampedValues(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	Version, Commit = "v1.2.3", "abc123"
	if got := VersionLine("fastlvs"); got != "fastlvs v1.2.3 (commit abc123)" {
		t.Fatalf("VersionLine = %q", got)
	}
}

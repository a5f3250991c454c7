package cli

import (
	"fmt"
	"runtime/debug"
)

// Version and Commit are stamped at build by the Makefile:
//
//	-ldflags "-X fastlvs/cmd/internal/cli.Version=... -X fastlvs/cmd/internal/cli.Commit=..."
//
// A plain `go build` leaves them empty and VersionLine falls back to the VCS
// information the Go toolchain records, when it recorded any.
var (
	Version string
	Commit  string
)

// VersionLine is "<program> <version> (commit <hash>)".
func VersionLine(program string) string {
	version, commit := Version, Commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			version = info.Main.Version
		}
		if commit == "" {
			commit = buildSetting(info, "vcs.revision")
			if commit != "" && buildSetting(info, "vcs.modified") == "true" {
				commit += "-dirty"
			}
		}
	}
	if version == "" {
		version = "devel"
	}
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("%s %s (commit %s)", program, version, commit)
}

func buildSetting(info *debug.BuildInfo, key string) string {
	for _, setting := range info.Settings {
		if setting.Key == key {
			return setting.Value
		}
	}
	return ""
}

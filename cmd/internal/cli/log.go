package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"
)

// LogFlags are --log-format and --log-level.
type LogFlags struct {
	format, level *string
}

// AddLogFlags defines --log-format (text or json) and --log-level (debug,
// info, warn or error) on fs.
func AddLogFlags(fs *pflag.FlagSet) LogFlags {
	return LogFlags{
		format: fs.String("log-format", "text", "log format: text or json"),
		level:  fs.String("log-level", "info", "log level: debug, info, warn or error"),
	}
}

// Setup makes slog's default logger write to w in the chosen format at the
// chosen level, or reports the flag whose value is not one of its choices.
func (f LogFlags) Setup(w io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.level)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *f.level)
	}
	options := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(*f.format) {
	case "text":
		slog.SetDefault(slog.New(slog.NewTextHandler(w, options)))
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(w, options)))
	default:
		return fmt.Errorf("--log-format %q: want text or json", *f.format)
	}
	return nil
}

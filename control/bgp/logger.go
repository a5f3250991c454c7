package bgp

import (
	"context"
	"log/slog"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// slogAdapter hands gobgp's log lines to slog. gobgp reports session
// changes at info level; they are worth keeping, its debug chatter is not.
type slogAdapter struct {
	logger *slog.Logger
	level  gobgplog.LogLevel
}

func newSlogAdapter(logger *slog.Logger) *slogAdapter {
	return &slogAdapter{logger: logger.With("component", "bgp"), level: gobgplog.InfoLevel}
}

func (a *slogAdapter) log(level slog.Level, msg string, fields gobgplog.Fields) {
	if !a.logger.Enabled(context.Background(), level) {
		return
	}
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	a.logger.Log(context.Background(), level, msg, args...)
}

func (a *slogAdapter) Panic(msg string, fields gobgplog.Fields) {
	a.log(slog.LevelError, msg, fields)
	panic(msg)
}

// Fatal is logged as an error: gobgp must not end the director's process.
func (a *slogAdapter) Fatal(msg string, fields gobgplog.Fields) { a.log(slog.LevelError, msg, fields) }
func (a *slogAdapter) Error(msg string, fields gobgplog.Fields) { a.log(slog.LevelError, msg, fields) }
func (a *slogAdapter) Warn(msg string, fields gobgplog.Fields)  { a.log(slog.LevelWarn, msg, fields) }
func (a *slogAdapter) Info(msg string, fields gobgplog.Fields) {
	if a.level >= gobgplog.InfoLevel {
		a.log(slog.LevelInfo, msg, fields)
	}
}
func (a *slogAdapter) Debug(msg string, fields gobgplog.Fields) {
	if a.level >= gobgplog.DebugLevel {
		a.log(slog.LevelDebug, msg, fields)
	}
}
func (a *slogAdapter) SetLevel(level gobgplog.LogLevel) { a.level = level }
func (a *slogAdapter) GetLevel() gobgplog.LogLevel      { return a.level }

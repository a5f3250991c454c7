package control

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce lets an editor finish writing (or replacing) the file before
// it is read.
const watchDebounce = 300 * time.Millisecond

// RoutineWatchConfig reloads the configuration whenever its file changes,
// like SIGHUP. It watches the directory, because editors and config managers
// replace files by renaming rather than writing in place.
func (d *Daemon) RoutineWatchConfig(ctx context.Context) {
	if d.ConfigPath == "" {
		return
	}
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		slog.Warn("config file watching off", "err", err)
		return
	}
	defer watcher.Close()
	path, _ := filepath.Abs(d.ConfigPath)
	if err := watcher.Add(filepath.Dir(path)); err != nil {
		slog.Warn("config file watching off", "dir", filepath.Dir(path), "err", err)
		return
	}
	slog.Info("watching config file", "path", path)
	var pending <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-watcher.Events:
			if filepath.Clean(ev.Name) == path && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				pending = time.After(watchDebounce)
			}
		case err := <-watcher.Errors:
			slog.Warn("config file watcher", "err", err)
		case <-pending:
			pending = nil
			if err := d.Reload(); err != nil {
				slog.Error("reload", "err", err)
			} else {
				slog.Info("reloaded", "config", d.ConfigPath, "trigger", "file change")
			}
		}
	}
}

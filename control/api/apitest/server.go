// Package apitest serves an API handler on a unix socket for tests.
package apitest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"fastlvs/control/api"
)

// ServeUnix serves h on a fresh unix socket (mode 0600, as the daemon does)
// for the test's lifetime and returns its "unix:///path" address. The socket
// lives in a short temporary directory: sun_path holds only 108 bytes.
func ServeUnix(tb testing.TB, h http.Handler) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "fastlvs-api")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	addr := "unix://" + filepath.Join(dir, "api.sock")
	listener, err := api.Listen(addr, "")
	if err != nil {
		tb.Fatal(err)
	}
	server := httptest.NewUnstartedServer(h)
	server.Listener.Close()
	server.Listener = listener
	server.Start()
	tb.Cleanup(server.Close)
	return addr
}

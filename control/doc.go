// Package control is the director's control plane: it loads and validates
// the configuration (config*.go), compiles it with the health checks'
// verdicts into a dataplane table (compile.go), and runs the daemon
// (daemon.go: start, reload, API edits through one validated change path,
// drain deadlines) with its endpoints (endpoints.go: the HTTP API and its
// backend, metrics, the web monitor, connection sync, cookie-secret
// rotation, health checks). It never touches a worker's memory: every change
// is a new table published to the dataplane.
package control

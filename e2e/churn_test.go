package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"fastlvs/testbed"
)

// churn opens new HTTP/1.0 connections to a VIP at a steady rate, as a busy
// site's clients do. The real server answers and closes first, so the
// client keeps no TIME_WAIT and, with a small ip_local_port_range, reuses
// its ports within a fraction of a second: every few hundred connections
// meet the director's record of an earlier one on the same tuple.
type churn struct {
	mu       sync.Mutex
	outcomes []churnOutcome
	done     chan struct{}
}

// churnOutcome is one connection: when it started and how it ended.
type churnOutcome struct {
	at     time.Time
	server string // who answered; "" on failure
	err    error
}

// churnPorts is the client's port range: 201 ports at ≥ 1k connections/s
// means each port is reused about every 200 ms.
const churnPorts = "40000 40200"

// startChurn runs rate connections a second from client to addr for at most
// duration, over parallel goroutines, until ctx ends; each connection has
// 6 s to be answered (three SYNs: a failure is a refusal or a server that
// never answers, not one lost packet on a busy two-core machine).
func startChurn(ctx context.Context, tb testing.TB, client *testbed.Host, addr string, rate, parallel int, duration time.Duration) *churn {
	tb.Helper()
	if err := client.Sysctl("net.ipv4.ip_local_port_range", churnPorts); err != nil {
		tb.Fatal(err)
	}
	c := &churn{done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(ctx, duration)
	var wg sync.WaitGroup
	every := time.Duration(parallel) * time.Second / time.Duration(rate)
	for g := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stagger the goroutines over one period so the rate is even.
			next := time.Now().Add(every * time.Duration(g) / time.Duration(parallel))
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				next = next.Add(every)
				if late := time.Since(next); late > time.Second {
					next = time.Now() // a stall must not turn into a burst
				}
				start := time.Now()
				server, err := http10Get(ctx, client, addr)
				if ctx.Err() != nil && err != nil {
					return // cut short by the end of the run, not a failure
				}
				c.mu.Lock()
				c.outcomes = append(c.outcomes, churnOutcome{at: start, server: server, err: err})
				c.mu.Unlock()
			}
		}()
	}
	go func() {
		wg.Wait()
		cancel()
		close(c.done)
	}()
	return c
}

// wait blocks until the run ends and returns every outcome.
func (c *churn) wait() []churnOutcome {
	<-c.done
	return c.snapshot()
}

func (c *churn) snapshot() []churnOutcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]churnOutcome(nil), c.outcomes...)
}

// http10Get makes one HTTP/1.0 request on a new connection and returns the
// name of the real server that answered.
func http10Get(ctx context.Context, client *testbed.Host, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 6*time.Second)
	defer cancel()
	conn, err := client.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return "", err
	}
	reply, err := io.ReadAll(conn) // the server closes first
	if err != nil {
		return "", err
	}
	_, body, ok := strings.Cut(string(reply), "\r\n\r\n")
	if !strings.HasPrefix(string(reply), "HTTP/1.0 200") || !ok {
		return "", &net.OpError{Op: "read", Net: "tcp", Err: io.ErrUnexpectedEOF}
	}
	r, err := parseResponse(body)
	return r.server, err
}

// failuresSince counts the failed connections that started at or after t,
// and all connections that did.
func failuresSince(outcomes []churnOutcome, t time.Time) (failed, total int, first error) {
	for _, o := range outcomes {
		if o.at.Before(t) {
			continue
		}
		total++
		if o.err != nil {
			if first == nil {
				first = o.err
			}
			failed++
		}
	}
	return failed, total, first
}

// refusedSince counts the connections started at or after t that a dead
// server's closed port answers (refused or reset), apart from those that
// timed out: a handful of SYNs lost three times running on a loaded
// two-core machine says nothing about where connections were sent.
func refusedSince(outcomes []churnOutcome, t time.Time) (refused, timedOut int) {
	for _, o := range outcomes {
		if o.at.Before(t) || o.err == nil {
			continue
		}
		if strings.Contains(o.err.Error(), "timeout") {
			timedOut++
		} else {
			refused++
		}
	}
	return refused, timedOut
}

// describeFailures says how the connections started at or after t failed:
// by kind of error, and when the first and last of them started.
func describeFailures(outcomes []churnOutcome, t time.Time) string {
	kinds := map[string]int{}
	var firstAt, lastAt time.Duration
	n := 0
	for _, o := range outcomes {
		if o.at.Before(t) || o.err == nil {
			continue
		}
		at := o.at.Sub(t)
		if n == 0 {
			firstAt = at
		}
		lastAt = at
		n++
		switch msg := o.err.Error(); {
		case strings.Contains(msg, "refused"):
			kinds["refused"]++
		case strings.Contains(msg, "reset"):
			kinds["reset"]++
		case strings.Contains(msg, "timeout"):
			kinds["timeout"]++
		default:
			kinds["other"]++
		}
	}
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("%v, started %v to %v after", kinds, firstAt.Round(time.Millisecond), lastAt.Round(time.Millisecond))
}

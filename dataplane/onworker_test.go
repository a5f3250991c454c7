package dataplane

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fastlvs/conntrack"
)

// TestOnWorkerConcurrentCallers: two callers at once both get their
// function run. A worker holds one request; before callers took turns the
// second replaced the first, which then timed out never having run.
func TestOnWorkerConcurrentCallers(t *testing.T) {
	d := newMemDataplane(t, testSpec(), 1, 64)
	dp := &Dataplane{Workers: d.Workers}
	var ran atomic.Int32
	errs := make(chan error, 2)
	var callers sync.WaitGroup
	for range 2 {
		callers.Add(1)
		go func() {
			defer callers.Done()
			errs <- dp.OnWorker(time.Second, func(*Worker, *conntrack.Table) { ran.Add(1) })
		}()
	}
	time.Sleep(50 * time.Millisecond) // both requests are made before the worker looks
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				d.Workers[0].serveRequest()
			}
		}
	}()
	callers.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if ran.Load() != 2 {
		t.Fatalf("ran %d of 2 requests", ran.Load())
	}
}

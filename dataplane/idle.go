package dataplane

// The idle policy. In AF_XDP copy mode the kernel copies every received
// frame into the UMEM in its NAPI poll, which runs on the core the
// interface's interrupt (or threaded-NAPI kthread) is on: in the bench and
// on many directors the worker's own core. While the worker spins on an
// empty RX ring there, nothing can arrive: spinning only delays the NAPI
// poll it waits for. So after an empty poll the worker yields the core
// (sched_yield: the NAPI thread runs at once if it is runnable, and the
// worker goes on without the cost of a sleep and a wake-up), and after
// yieldsBeforeSleep empty polls in a row it sleeps in poll(2) until a
// socket has frames (or idleWaitMillis, for the timers).
//
// Measured on the bench topology (wrk keep-alive through fastlvs NAT, a
// shared and noisy 2-core machine, medians of interleaved rounds), director
// CPU per request: sleeping at once 44 µs (a sleep and a wake-up for nearly
// every packet), 16 spins then sleep 28 µs, 4 yields then sleep 11 µs, with
// the most requests per second of the three; against the old policy (256
// spins, with the clock still a system call) 17 µs against 27 µs.

import "fastlvs/xsk"

const (
	yieldsBeforeSleep = 4
	idleWaitMillis    = 1
)

// idle backs off after emptyPolls polls in a row found nothing. A fifo
// worker sleeps at once: its yield would pass only to real-time threads,
// and NAPI's are not.
func (w *Worker) idle(emptyPolls int) {
	if emptyPolls <= yieldsBeforeSleep && !w.runsFIFO() {
		xsk.Yield()
		return
	}
	w.noteBlocked(w.now)
	w.poller.Wait(idleWaitMillis)
}

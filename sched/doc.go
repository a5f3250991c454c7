// Package sched holds every IPVS scheduler (rr wrr lc wlc sed nq fo ovf lblc lblcr dh sh mh) and twos as pure Go
// with IPVS's semantics, plus weighted Maglev hashing for mh. It imports nothing of fastlvs.
//
// # Shape
//
// The control plane calls Build with a service's servers; the resulting Plan is immutable (Maglev lookup table,
// dh/sh bucket tables, wrr's gcd and maximum) and is published to workers inside the dataplane table. Each worker
// calls Plan.Instance once per table swap and keeps the Scheduler it returns: the state IPVS keeps under its
// sched_lock (rr's cursor, wrr's position and current weight, the lblc/lblcr destination tables, twos's random
// state) lives there, so workers never write to shared scheduler state and Schedule takes no lock. Schedule does
// not allocate.
//
// Because each worker has its own cursor, rr and wrr are exact per worker, not across workers: with W workers the
// service sees W interleaved IPVS sequences, which have the same long-run proportions. lblc and lblcr keep one
// locality table per worker, so a destination address may map to a different server on each worker until loads
// even out; RSS keeps a given client on one worker.
//
// Instance allocates the per-worker state (lblc and lblcr tables are LocalityTableSize entries: 128 KiB and
// 288 KiB at the default 4096), so call it when the table is built, on the control plane, once per worker, and hand
// each worker its own; a new Plan starts new instances (rr/wrr positions and locality tables start afresh).
//
// # Where fastlvs differs from IPVS, and why
//
//   - dh fills its 256 buckets by weight, as sh does (IPVS dh ignores weights).
//   - dh and sh divide weights by their gcd and scale them to fit 256 buckets, so shares follow the weights (IPVS
//     gives 100:300 as 100:156); quiescent servers hold no bucket (IPVS gives each one bucket that then fails).
//   - mh uses the Maglev paper's permutation with fixed 64-bit hashes instead of IPVS's siphash keys, and a
//     quiescent server holds no slot; mh-fallback tries 32 rehashed slots and then the following servers in list
//     order, where IPVS may rehash up to M times.
//   - lblc also refuses a cached server that is over its upper threshold; lblc/lblcr tables are fixed-size per
//     worker with LRU eviction; an lblcr set holds at most 8 servers.
//   - twos is not an IPVS scheduler: two weighted random draws, the lower wlc cost wins.
//
// # Shared connection counts
//
// Load holds one real server's active and inactive connection counts and IPVS's threshold-overload flag. The
// control plane keeps one *Load per real server id and passes the same pointer to every Build, so counts survive
// table swaps. Workers change them with atomic adds on the paths that change a connection's state: ConnStarted
// when a connection is created, ConnChanged when it moves between active and inactive, ConnEnded when it expires.
// A Load is padded to one 64-byte cache line so that updates to one server do not invalidate another server's
// counters in other cores' caches (false sharing); the counters of one server share a line because they change
// together.
//
// How stale a count can be: an atomic add is visible to every other core as soon as it completes (Go's atomics are
// sequentially consistent), so a worker reading a Load sees every connection whose ConnStarted has run. What it
// cannot see are picks in flight on other workers: the few hundred nanoseconds between another worker's Schedule
// and its ConnStarted for the same new connection. Within that window at most one pick per other worker is
// missing from the count, so a least-connection decision can be off by at most W-1 connections (W workers). The
// effect on balance is a short burst: if several workers schedule at the same instant, they may all choose the
// same least-loaded server, which then is up to W-1 connections ahead; the next picks see it and steer away. In
// steady state the error is bounded by W-1 per server and does not accumulate. IPVS itself updates its counters
// the same way (atomic_t, no lock between scheduling and binding), so it has the same window.
//
// The overload flag follows IPVS: it is set when ConnStarted brings active+inactive to the upper threshold and
// cleared when ConnEnded brings it below the lower threshold (or below 3/4 of the upper one when no lower one is
// set). Build installs the thresholds into each Load.
//
// # Determinism
//
// Build uses no map iteration, no random seed and no clock: two Builds of the same Config on two directors give
// identical Maglev, dh and sh tables, so ECMP can spread one service across several directors and any of them
// sends a client to the same real server.
package sched

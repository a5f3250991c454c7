// Package dataplane owns the packet path of the director: the AF_XDP ports
// and their XDP steering program (dataplane/steer), one worker per queue
// with its own connection table, the frozen table of services and real
// servers that the control plane builds and publishes with one atomic store
// (Build, Publish), and the per-worker counters the control plane reads.
//
// Where to read what happens to a packet:
//
//	worker.go    the batch loop: receive, parse, look up, process, transmit, recycle
//	packet.go    the per-packet contract: a packet value in, a verdict out
//	process.go   one packet: its owner, its connection (new or found), its rewrite
//	owner.go     which worker owns a connection, whatever queue it arrives on
//	reuse.go     a new connection on an old tuple, or to a server out of rotation
//	synproxy.go  SYN proxy: cookies, the server handshake, sequence adjustment
//	fullnat.go, localpool.go, tunnel.go, fragneeded.go, learned.go: the methods' details
//	sync.go      connections to and from the peer director
//	overflow.go, overflowaccept.go: shedding new connections to another site, and serving another site's
//	table.go, registry.go, spec.go: what the control plane hands the workers
//	stats.go     every counter and drop reason, with the names metrics export
//
// Nothing here imports the control plane; the control plane reaches a
// worker only through a published table, the sync rings and OnWorker.
package dataplane

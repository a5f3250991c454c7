// Package synproxy is the socket-free core of the director's SYN proxy: it
// answers a client's SYN with a syncookie SYN/ACK and keeps no state until
// the client proves, with its ACK, that it owns its address. Only then does
// the worker pick a real server and open the connection to it. A SYN flood
// therefore never reaches a real server and never fills the connection table.
//
// Every function works on a frame the worker already holds, in place or into
// a buffer it provides; none allocates, locks or reads the clock. Failures
// are Result values named for per-worker drop counters.
//
// # The story, as the worker drives it
//
//  1. SYN from a client to a synproxy service, no connection entry:
//     AnswerSYN turns the frame into the SYN/ACK (addresses, ports and MACs
//     swapped, seq = cookie, ack = client ISN + 1) and the worker sends it
//     back out of the port it came in on. Nothing is stored.
//  2. ACK (or data) from a client, no connection entry: CheckACK validates
//     the cookie it acknowledges and returns the Handshake (client ISN, cookie
//     ISN, MSS, window scale, SACK, timestamps). An invalid ACK is dropped and
//     counted (InvalidCookie); the worker throttles a storm of them (a token
//     bucket per worker before CheckACK) since each costs two hashes, four in
//     the two windows after a rotation.
//     A RST or FIN without a connection is dropped without a check.
//  3. The worker schedules a real server, inserts a connection in state
//     "proxy handshake" holding the Handshake, and sends BuildServerSYN's SYN
//     (the client's ISN and options) to the real server. It buffers the
//     client's segments that arrive meanwhile, up to 3 per connection
//     (dropping and counting more; the client retransmits) - buffering is
//     the worker's job, this package keeps nothing.
//  4. The real server's SYN/ACK: ServerSYNACK returns the connection's
//     seqadj.Adjust (ServerSeq = cookie ISN - server ISN, the timestamp
//     offset, window rescaling) and turns the frame into the ACK the director
//     sends the server. The worker stores the Adjust in the connection,
//     marks it established and replays the buffered client segments through
//     Adjust.ToServer (a buffered bare ACK may be dropped: the built ACK
//     stands for it). A SYN/ACK that does not acknowledge the director's SYN
//     is dropped (WrongServerACK). If the director's ACK is lost the server
//     sends its SYN/ACK again: answer it with ServerSYNACK's frame again but
//     keep the Adjust stored the first time (a retransmission may carry a
//     newer TSval). A SYN from the client while the connection is in proxy
//     handshake is a duplicate (the client already has its SYN/ACK) and is
//     dropped. A RST from the server ends the proxy
//     handshake; what the client then sees (a RST built by the worker, or
//     silence until it gives up) is the worker's policy.
//  5. Every later segment: Adjust.ToServer on client→server, Adjust.ToClient
//     on server→client, after the method's address rewrite. Sequence and
//     acknowledgement numbers, SACK blocks and timestamps move; checksums are
//     updated incrementally.
//
// It needs the director to see both directions of the connection: NAT and
// FULLNAT always do. DR and TUN send the server's answers straight to the
// client, which would then see the server's sequence numbers, not the
// cookie's; they can be proxied only where the real servers' replies are
// routed back through the director, so the control plane should refuse
// synproxy for them.
//
// # Cookies
//
// The cookie is Linux's (net/ipv4/syncookies.c): a keyed hash of the flow
// plus the client's ISN, a one-minute window counter in the top 8 bits
// (valid for MaxCookieAge windows) and the client's MSS as an index into a
// four-entry table in the low bits, with one hardening: the index is bound
// into the hash, so a changed cookie validates only with the 2^-22 chance of
// any guess. The hash is SipHash-2-4. Secrets holds the current and previous key; the control
// plane rotates it (at most once per window) and hands workers copies.
//
// As in Linux, window scale, SACK-permitted and ECN travel in the low 6 bits
// of the SYN/ACK's TSval, which the client echoes in TSecr. A client that
// sends no timestamps gets a SYN/ACK with only an MSS option: it loses
// window scaling and SACK for this connection, as it would with Linux.
//
// # Window scale
//
// The SYN/ACK promises the client ProxyWindowScale before any real server is
// chosen. The director asks the real server with the client's own window
// scale, so client windows pass unchanged; if the server picks another scale
// (or refuses scaling), the Adjust rescales every window it sends to the
// client (saturating at 0xffff when the server scales more, rounding down
// when it scales less: the client is never told of space the server did not
// offer). If the server refuses scaling, the client's windows are rescaled
// toward it likewise.
//
// # Timestamps
//
// The SYN/ACK's TSval is the director's millisecond clock with the options in
// its low bits; the server's own clock is unrelated, so the Adjust adds the
// difference to every TSval toward the client and subtracts it from every
// TSecr toward the server. The server gets the client's TSval in the SYN, so
// client TSvals pass unchanged. A real server with timestamps disabled
// cannot be hidden: its segments reach a client that negotiated timestamps
// without them (Linux clients accept this; stricter stacks may not), so real
// servers behind a SYN proxy should keep timestamps on.
//
// # MSS and ECN
//
// The SYN/ACK advertises Config.MSS; the real server is told the client's MSS
// (rounded down to the cookie table) capped at Config.MSS. ECN is offered
// only with Config.ECN and timestamps; the director then asks the real server
// for it, and a server that refuses leaves the client believing ECN is on
// (it marks packets ECT; congestion marks are not echoed) - keep Config.ECN
// off unless the real servers enable ECN.
package synproxy

// Package seqadj shifts a TCP connection's sequence spaces, timestamps and
// windows between what one end sent and what the other end expects: the one
// per-connection mechanism for anything that changes the byte stream or
// answers part of the handshake on a real server's behalf (SYN proxy,
// PROXY protocol, later splicing).
//
// An Adjust lives in the connection record. The worker applies ToServer to
// every client→server segment and ToClient to every server→client segment,
// after its address rewrite; each call updates the TCP checksum
// incrementally (RFC 1624) and never allocates. A zero Adjust changes
// nothing, so connections without one skip the call (IsZero).
package seqadj

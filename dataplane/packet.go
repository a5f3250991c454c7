package dataplane

import "fastlvs/header"

// packet is one frame on its way through a worker: everything process needs
// to know about it, and the only thing a forwarding method changes besides
// the frame's bytes.
//
// The frame lives in buf (its UMEM frame or handoff slot) at [off, off+size).
// The space before off is headroom: a method that grows the frame in place
// (encapsulation) or builds an answer in front of it (ICMP) moves off and
// size, so at a transmit verdict they always name the bytes to send.
type packet struct {
	buf    []byte
	off    int
	size   int
	inPort int           // the port the frame arrived on
	hdr    header.Packet // parsed headers; views into the frame
	// tries counts the owner candidates of a NAT reply already asked, hops
	// the hand-overs between workers (owner.go).
	tries, hops uint8
}

// receive makes p a newly received frame. It leaves hdr as it was: Parse,
// which every received frame meets first, rewrites it whole, and clearing
// 152 bytes twice per packet is measurable.
func (p *packet) receive(buf []byte, off, size, inPort int) {
	p.buf, p.off, p.size, p.inPort = buf, off, size, inPort
	p.tries, p.hops = 0, 0
}

// frame is the packet's bytes as they stand.
func (p *packet) frame() []byte { return p.buf[p.off : p.off+p.size] }

// headroom is how many bytes the frame may grow by at its front.
func (p *packet) headroom() int { return p.off }

// setFrame makes [off, off+size) of buf the bytes to send.
func (p *packet) setFrame(off, size int) { p.off, p.size = off, size }

// action is what process decided for a packet.
type action uint8

const (
	actionDrop action = iota
	actionTransmit
	actionHandoff
	// actionHold: the packet was copied to wait for something (a fragment
	// for its first fragment, a client segment for the SYN proxy's server
	// handshake); its frame is free, and no drop is counted.
	actionHold
)

// verdict is process's answer for one packet.
type verdict struct {
	action action
	reason Drop // actionDrop: why (already counted)
	port   int  // actionTransmit: the port to send packet.frame() on
	owner  int  // actionHandoff: the worker owning the connection
}

func transmitOn(port int) verdict { return verdict{action: actionTransmit, port: port} }

func handOffTo(owner int) verdict { return verdict{action: actionHandoff, owner: owner} }

// Package dr forwards by direct routing: the packet keeps its VIP as
// destination and only its Ethernet header changes, so the real server
// (which holds the VIP on a loopback, ARP-silent) answers the client itself.
package dr

import "fastlvs/header"

// Forward readdresses the frame's Ethernet header to the next hop.
func Forward(frame []byte, dst, src header.MAC) {
	eth := header.Ethernet(frame)
	eth.SetDestinationAddress(dst)
	eth.SetSourceAddress(src)
}

// Package dr forwards by direct routing (IPVS -g): the packet keeps the VIP
// as its destination and only its Ethernet header changes, so the real
// server, which holds the VIP on a loopback and answers no ARP for it,
// replies to the client itself.
//
// That works only when the real server shares a segment with the director:
// a router in between would route the VIP-addressed packet back to whoever
// announces the VIP — the director. Forward enforces it.
package dr

import (
	"fastlvs/header"
	"fastlvs/nexthop"
)

// Forward readdresses frame to the real server behind hop. It refuses, and
// leaves the frame alone, when hop is a gateway rather than the real server
// itself.
func Forward(frame []byte, hop *nexthop.Hop) bool {
	if !hop.OnLink {
		return false
	}
	header.Ethernet(frame).Readdress(hop.DstMAC, hop.SrcMAC)
	return true
}

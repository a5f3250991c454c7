package steer

import "fmt"

// Indexes of the per-CPU counters array; they mirror enum counter in steer.c.
const (
	counterSteeredService = iota
	counterSteeredNATReply
	counterSteeredFullNATReply
	counterPassed
	counterPassedFragment
	counterNoSocket
	counterSteeredICMPError
	counterSteeredFragment
	counterSteeredTunnel
	counterCount
)

// Stats are the steering program's outcome counters summed over all CPUs.
// Every frame counts once in a Steered… or Passed… field; NoSocket counts
// the steered frames that fell back to the kernel because their queue had no
// registered socket.
type Stats struct {
	SteeredService      uint64 // to a virtual service
	SteeredNATReply     uint64 // from a NAT real server, not to a director address
	SteeredFullNATReply uint64 // to a FULLNAT local address
	SteeredICMPError    uint64 // ICMP error about a packet fastlvs sent
	SteeredFragment     uint64 // a TCP/UDP fragment to a service or local address, or from a NAT real server
	SteeredTunnel       uint64 // IPIP/GUE whose inner packet is to a service (overflow from another site)
	Passed              uint64 // not fastlvs's (ARP, SSH, health checks, ...) or truncated
	PassedFragment      uint64 // other fragments (not fastlvs's, or not TCP/UDP)
	NoSocket            uint64 // steered, but no AF_XDP socket for the queue
}

// Stats reads the counters, summing the per-CPU values.
func (p *Program) Stats() (Stats, error) {
	var sums [counterCount]uint64
	var perCPU []uint64
	for index := range sums {
		if err := p.objects.Counters.Lookup(uint32(index), &perCPU); err != nil {
			return Stats{}, fmt.Errorf("read steering counter %d: %w", index, err)
		}
		for _, value := range perCPU {
			sums[index] += value
		}
	}
	return Stats{
		SteeredService:      sums[counterSteeredService],
		SteeredNATReply:     sums[counterSteeredNATReply],
		SteeredFullNATReply: sums[counterSteeredFullNATReply],
		SteeredICMPError:    sums[counterSteeredICMPError],
		SteeredFragment:     sums[counterSteeredFragment],
		SteeredTunnel:       sums[counterSteeredTunnel],
		Passed:              sums[counterPassed],
		PassedFragment:      sums[counterPassedFragment],
		NoSocket:            sums[counterNoSocket],
	}, nil
}

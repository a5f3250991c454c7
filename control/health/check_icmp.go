package health

import (
	"context"
	"errors"
	"net/netip"
)

// icmpCheck sends one echo request and waits for the matching reply.
type icmpCheck struct {
	addr   netip.Addr
	source netip.Addr
}

func (c *icmpCheck) run(ctx context.Context) result {
	return failure(errors.New("icmp: not implemented yet"))
}

// Package bgp is fastlvs's embedded BGP speaker: it announces the VIPs of
// usable services to the configured routers and withdraws them when their
// services stop being usable or the director drains, so no bird or exabgp
// has to run beside the director.
//
// It wraps a gobgp server used as a library. The speaker only originates
// routes: it imports nothing from its peers and installs nothing into the
// kernel. It dials out to each peer and, unless a listen port is given,
// listens on no port at all.
package bgp

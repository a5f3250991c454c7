// Package bench measures whole directors on real packets: it builds the
// namespace topology (topology.go), drives it with a packet generator (the
// project's AF_XDP sender or trafgen), runs fastlvs and the peers (the
// project's C AF_XDP forwarder as the ceiling, kernel routing, nftables
// DNAT, in-kernel XDP, dpdk-testpmd, haproxy) on the same ports and core,
// fastlvs and the C forwarder under each scheduling priority asked for, and
// writes the side-by-side report, the director's CPU split and plots.
// Nothing imports it; cmd/fastlvs-bench runs it.
package bench

// Package bench measures whole directors on real packets: it builds the
// namespace topology (topology.go), drives it with a packet generator (the
// project's AF_XDP sender or trafgen), runs fastlvs and the peers (kernel
// routing, nftables DNAT, in-kernel XDP, dpdk-testpmd, haproxy) on the same
// ports, and writes the side-by-side report and plots. Nothing imports it;
// cmd/fastlvs-bench runs it.
package bench

//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
//
// fastlvs XDP steering program.
//
// The fastlvs dataplane runs in user space on AF_XDP sockets. This program
// decides, per received frame, whether the frame belongs to fastlvs (redirect
// it to the AF_XDP socket of the receive queue) or to the kernel (XDP_PASS:
// ARP, ND, ping, SSH, routing protocols, health-check replies, ...).
//
// A frame is fastlvs's when, in this order:
//   1. service:  (dst addr, dst port, proto) is a virtual service, or
//                (dst addr, 0, proto) is an all-ports service;
//   2. FULLNAT:  dst addr is a FULLNAT local address and proto is TCP/UDP;
//   3. NAT:      (src addr, src port, proto) is a real server of a NAT service
//                (or (src addr, 0, proto)), and dst addr is not one of the
//                director's own addresses (those are health-check replies);
//   4. ICMP:     an ICMP/ICMPv6 error (destination unreachable, packet too big,
//                time exceeded) whose embedded packet is one fastlvs sent:
//                its source is a service or a local address, or its
//                destination is a NAT real server (and the outer destination
//                is not a director address, as in rule 3).
//   5. fragment: an IPv4 fragment or IPv6 fragment header of TCP/UDP, by
//                addresses only (see classify_fragment).
//   6. echo:     an ICMP/ICMPv6 echo request to a VIP (the services map holds
//                (VIP, 0, ICMP or ICMPv6) for every service address), which
//                fastlvs answers; counted as steered_service.
//   7. overflow: IPIP, IPv6-in-IP, or GUE to the overflow GUE port, whose
//                inner packet is TCP/UDP to a service: another site's
//                director shedding connections to us (classify_tunnel;
//                user space checks the outer source and opens it). Only
//                when overflow_accept is configured.
// Everything else is passed to the kernel.
//
// Addresses in every map key are 16 bytes; IPv4 is stored v4-mapped
// (::ffff:a.b.c.d) so one map serves both families. Ports in keys are in
// network byte order.
//
// Every frame increments exactly one outcome counter (steered_* or passed*);
// no_socket additionally counts steered frames whose redirect fell back to
// XDP_PASS because no socket is registered for the queue.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 256
#define MAX_VLAN_TAGS 2

// IPPROTO_* numbers used as keys (linux/in.h defines them as enum values).
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58
#define NEXTHDR_FRAGMENT 44

// ICMP error types (linux/icmp.h drags in libc socket headers).
#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128

#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV4_MORE_FRAGMENTS 0x2000

// icmp_header is the fixed part of both ICMP and ICMPv6 messages; errors
// carry the offending packet after it.
struct icmp_header {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 unused; // MTU for "fragmentation needed" and "packet too big"
};

// endpoint is the key of the services and reply_sources maps.
struct endpoint {
	__u8 addr[16]; // IPv6, or IPv4 v4-mapped
	__be16 port;   // network byte order; 0 = all ports
	__u8 proto;    // IPPROTO_TCP or IPPROTO_UDP
	__u8 pad;      // always zero
};

// address is the key of the local_addrs and host_addrs maps.
struct address {
	__u8 addr[16];
};

// Outcome counters, indexes into the per-CPU counters array.
enum counter {
	COUNTER_STEERED_SERVICE = 0,
	COUNTER_STEERED_NAT_REPLY = 1,
	COUNTER_STEERED_FULLNAT_REPLY = 2,
	COUNTER_PASSED = 3,
	COUNTER_PASSED_FRAGMENT = 4,
	COUNTER_NO_SOCKET = 5,
	COUNTER_STEERED_ICMP_ERROR = 6,
	COUNTER_STEERED_FRAGMENT = 7,
	COUNTER_STEERED_TUNNEL = 8,
	COUNTER_MAX = 9,
};

// AF_XDP sockets indexed by receive queue.
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// Virtual services: (VIP, port, proto); port 0 = all ports.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct endpoint);
	__type(value, __u8);
} services SEC(".maps");

// Real servers of NAT services: (RIP, port, proto); port 0 = all ports.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct endpoint);
	__type(value, __u8);
} reply_sources SEC(".maps");

// FULLNAT local addresses: replies from real servers come back to these.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct address);
	__type(value, __u8);
} local_addrs SEC(".maps");

// The director's own addresses: traffic to them is the kernel's.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct address);
	__type(value, __u8);
} host_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

// flow is what the classifier needs from an IP packet.
struct flow {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
};

// Results of parsing an IP header.
enum parsed {
	PARSED_OK,       // flow filled in, l4 points at the transport header
	PARSED_OTHER,    // not something fastlvs handles (truncated, options, ...)
	PARSED_FRAGMENT, // a fragment: the kernel reassembles or drops it
};

static __always_inline void count(enum counter which)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &which);
	if (value)
		*value += 1;
}

static __always_inline void v4_mapped(__u8 *dst, const __be32 *addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, addr, 4);
}

// parse_ipv4 fills f from the IPv4 header at pos. Embedded headers in ICMP
// errors (inner) may be first fragments: they still carry the ports.
static __always_inline enum parsed parse_ipv4(void *pos, void *end, struct flow *f,
					      void **l4, int inner)
{
	struct iphdr *ip = pos;
	if ((void *)(ip + 1) > end)
		return PARSED_OTHER;
	if (ip->version != 4 || ip->ihl < 5)
		return PARSED_OTHER;

	__u16 frag = bpf_ntohs(ip->frag_off);
	if (frag & IPV4_FRAG_OFFSET_MASK)
		return PARSED_FRAGMENT;
	if (!inner && (frag & IPV4_MORE_FRAGMENTS))
		return PARSED_FRAGMENT;

	v4_mapped(f->saddr, &ip->saddr);
	v4_mapped(f->daddr, &ip->daddr);
	f->proto = ip->protocol;
	*l4 = pos + ip->ihl * 4; // bounds are checked by the caller
	return PARSED_OK;
}

// parse_ipv6 fills f from the IPv6 header at pos. Extension headers are not
// walked: a packet with one goes to the kernel (a fragment header counts as a
// fragment).
static __always_inline enum parsed parse_ipv6(void *pos, void *end, struct flow *f,
					      void **l4)
{
	struct ipv6hdr *ip6 = pos;
	if ((void *)(ip6 + 1) > end)
		return PARSED_OTHER;
	if (ip6->version != 6)
		return PARSED_OTHER;
	if (ip6->nexthdr == NEXTHDR_FRAGMENT)
		return PARSED_FRAGMENT;

	__builtin_memcpy(f->saddr, &ip6->saddr, 16);
	__builtin_memcpy(f->daddr, &ip6->daddr, 16);
	f->proto = ip6->nexthdr;
	*l4 = (void *)(ip6 + 1);
	return PARSED_OK;
}

// parse_ports reads the source and destination ports, the first four bytes of
// both the TCP and the UDP header. User space validates the rest.
static __always_inline int parse_ports(void *l4, void *end, struct flow *f)
{
	__be16 *ports = l4;
	if ((void *)(ports + 2) > end)
		return -1;
	f->sport = ports[0];
	f->dport = ports[1];
	return 0;
}

static __always_inline int is_tcp_or_udp(__u8 proto)
{
	return proto == PROTO_TCP || proto == PROTO_UDP;
}

// endpoint_in looks (addr, port, proto) up in an endpoint map, then
// (addr, 0, proto) for all-ports entries.
static __always_inline int endpoint_in(void *map, const __u8 *addr, __be16 port, __u8 proto)
{
	struct endpoint key = {};
	__builtin_memcpy(key.addr, addr, 16);
	key.port = port;
	key.proto = proto;
	if (bpf_map_lookup_elem(map, &key))
		return 1;
	key.port = 0;
	return bpf_map_lookup_elem(map, &key) != 0;
}

static __always_inline int address_in(void *map, const __u8 *addr)
{
	struct address key;
	__builtin_memcpy(key.addr, addr, 16);
	return bpf_map_lookup_elem(map, &key) != 0;
}

// classify_transport applies rules 1-3 to a TCP/UDP flow.
static __always_inline enum counter classify_transport(struct flow *f)
{
	if (endpoint_in(&services, f->daddr, f->dport, f->proto))
		return COUNTER_STEERED_SERVICE;
	if (address_in(&local_addrs, f->daddr))
		return COUNTER_STEERED_FULLNAT_REPLY;
	if (endpoint_in(&reply_sources, f->saddr, f->sport, f->proto) &&
	    !address_in(&host_addrs, f->daddr))
		return COUNTER_STEERED_NAT_REPLY;
	return COUNTER_PASSED;
}

// classify_embedded applies rule 4 to the packet embedded in an ICMP error;
// outer is the error's own flow (its dst is the director or a client).
static __always_inline enum counter classify_embedded(struct flow *outer, struct flow *inner)
{
	if (!is_tcp_or_udp(inner->proto))
		return COUNTER_PASSED;
	// fastlvs sent it from a virtual service (NAT/FULLNAT reply to a client).
	if (endpoint_in(&services, inner->saddr, inner->sport, inner->proto))
		return COUNTER_STEERED_ICMP_ERROR;
	// fastlvs sent it from a FULLNAT local address to a real server.
	if (address_in(&local_addrs, inner->saddr))
		return COUNTER_STEERED_ICMP_ERROR;
	// fastlvs sent it to a NAT real server on a client's behalf.
	if (endpoint_in(&reply_sources, inner->daddr, inner->dport, inner->proto) &&
	    !address_in(&host_addrs, outer->daddr))
		return COUNTER_STEERED_ICMP_ERROR;
	return COUNTER_PASSED;
}

// ---- rule 5: echo requests to a VIP -----------------------------------------

// classify_echo steers an echo request of protocol proto (ICMP or ICMPv6) to
// a VIP; any other ICMP message that is no error is the kernel's.
static __always_inline enum counter classify_echo(struct icmp_header *icmp, __u8 echo_type,
						  struct flow *f)
{
	if (icmp->type != echo_type)
		return COUNTER_PASSED;
	if (endpoint_in(&services, f->daddr, 0, f->proto))
		return COUNTER_STEERED_SERVICE;
	return COUNTER_PASSED;
}

// ---- end of rule 5 -----------------------------------------------------------

// classify_icmp4 handles an ICMP message at l4 (outer IPv4 flow f).
static __always_inline enum counter classify_icmp4(void *l4, void *end, struct flow *f)
{
	struct icmp_header *icmp = l4;
	if ((void *)(icmp + 1) > end)
		return COUNTER_PASSED;
	if (icmp->type != ICMP_DEST_UNREACH && icmp->type != ICMP_TIME_EXCEEDED)
		return classify_echo(icmp, ICMP_ECHO, f); // the rest is the kernel's

	struct flow inner = {};
	void *inner_l4;
	if (parse_ipv4(icmp + 1, end, &inner, &inner_l4, 1) != PARSED_OK)
		return COUNTER_PASSED;
	if (parse_ports(inner_l4, end, &inner))
		return COUNTER_PASSED;
	return classify_embedded(f, &inner);
}

// classify_icmp6 handles an ICMPv6 message at l4 (outer IPv6 flow f).
static __always_inline enum counter classify_icmp6(void *l4, void *end, struct flow *f)
{
	struct icmp_header *icmp = l4;
	if ((void *)(icmp + 1) > end)
		return COUNTER_PASSED;
	if (icmp->type != ICMPV6_DEST_UNREACH && icmp->type != ICMPV6_PKT_TOOBIG &&
	    icmp->type != ICMPV6_TIME_EXCEED)
		return classify_echo(icmp, ICMPV6_ECHO_REQUEST, f); // ND, MLD are the kernel's

	struct flow inner = {};
	void *inner_l4;
	if (parse_ipv6(icmp + 1, end, &inner, &inner_l4) != PARSED_OK)
		return COUNTER_PASSED;
	if (parse_ports(inner_l4, end, &inner))
		return COUNTER_PASSED;
	return classify_embedded(f, &inner);
}

// ---- Fragments (rule 5) ------------------------------------------------
//
// Only a datagram's first fragment carries the ports, so fragments are
// steered by addresses: to an address with a service of the fragment's
// protocol, to a FULLNAT local address, or from the address of a NAT real
// server of that protocol to an address not the director's. User space
// follows each datagram's fragments without reassembly
// (dataplane/fragment.go); other fragments are the kernel's.

// (VIP, 0, proto) for every service address, whatever its ports.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct endpoint);
	__type(value, __u8);
} vip_addrs SEC(".maps");

// (RIP, 0, proto) for every NAT real server, whatever its ports.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct endpoint);
	__type(value, __u8);
} reply_addrs SEC(".maps");

// classify_fragment classifies the fragment whose IP header is at pos.
static __always_inline enum counter classify_fragment(void *pos, void *end, __be16 ethertype)
{
	struct endpoint src = {}, dst = {};
	if (ethertype == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = pos;
		if ((void *)(ip + 1) > end)
			return COUNTER_PASSED_FRAGMENT;
		v4_mapped(src.addr, &ip->saddr);
		v4_mapped(dst.addr, &ip->daddr);
		src.proto = ip->protocol;
	} else {
		struct ipv6hdr *ip6 = pos;
		__u8 *fragment_header = (void *)(ip6 + 1);
		if ((void *)(fragment_header + 8) > end)
			return COUNTER_PASSED_FRAGMENT;
		__builtin_memcpy(src.addr, &ip6->saddr, 16);
		__builtin_memcpy(dst.addr, &ip6->daddr, 16);
		src.proto = fragment_header[0]; // its next header
	}
	if (!is_tcp_or_udp(src.proto))
		return COUNTER_PASSED_FRAGMENT;
	dst.proto = src.proto;
	if (bpf_map_lookup_elem(&vip_addrs, &dst) || address_in(&local_addrs, dst.addr))
		return COUNTER_STEERED_FRAGMENT;
	if (bpf_map_lookup_elem(&reply_addrs, &src) && !address_in(&host_addrs, dst.addr))
		return COUNTER_STEERED_FRAGMENT;
	return COUNTER_PASSED_FRAGMENT;
}

// ---- end of fragments ----------------------------------------------------

// ---- Overflow tunnels (rule 7) -----------------------------------------
//
// Another site's director sheds connections to our VIPs inside IPIP,
// IPv6-in-IP or GUE (version 0, no options, as fastlvs sends it). The outer
// destination is this director; the inner packet decides.

#define PROTO_IPIP 4
#define PROTO_IPV6 41
#define GUE_HEADER_SIZE 4

// overflow_accept[0]: whether tunnels are steered at all, and the GUE port
// (network byte order; 0 = IPIP only).
struct overflow_accept_config {
	__u8 enabled;
	__u8 pad;
	__be16 gue_port;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct overflow_accept_config);
} overflow_accept SEC(".maps");

// classify_tunnel applies rule 7 to the outer flow f whose payload is at l4.
static __always_inline enum counter classify_tunnel(void *l4, void *end, struct flow *f)
{
	__u32 zero = 0;
	struct overflow_accept_config *cfg = bpf_map_lookup_elem(&overflow_accept, &zero);
	if (!cfg || !cfg->enabled)
		return COUNTER_PASSED;
	__u8 inner_proto = f->proto;
	void *inner_ip = l4;
	if (f->proto == PROTO_UDP) {
		__be16 *udp = l4;
		__u8 *gue = l4 + 8;
		if ((void *)(gue + GUE_HEADER_SIZE) > end)
			return COUNTER_PASSED;
		if (!cfg->gue_port || udp[1] != cfg->gue_port || gue[0] != 0)
			return COUNTER_PASSED;
		inner_proto = gue[1];
		inner_ip = gue + GUE_HEADER_SIZE;
	}
	struct flow inner = {};
	void *inner_l4;
	enum parsed parsed;
	if (inner_proto == PROTO_IPIP)
		parsed = parse_ipv4(inner_ip, end, &inner, &inner_l4, 0);
	else if (inner_proto == PROTO_IPV6)
		parsed = parse_ipv6(inner_ip, end, &inner, &inner_l4);
	else
		return COUNTER_PASSED;
	if (parsed != PARSED_OK || !is_tcp_or_udp(inner.proto))
		return COUNTER_PASSED;
	if (parse_ports(inner_l4, end, &inner))
		return COUNTER_PASSED;
	if (endpoint_in(&services, inner.daddr, inner.dport, inner.proto))
		return COUNTER_STEERED_TUNNEL;
	return COUNTER_PASSED;
}

// ---- end of overflow tunnels ---------------------------------------------

// classify returns the outcome counter of the frame; steered_* outcomes are
// redirected, the others passed.
static __always_inline enum counter classify(void *data, void *end)
{
	void *pos = data;
	struct ethhdr *eth = pos;
	if ((void *)(eth + 1) > end)
		return COUNTER_PASSED;
	__be16 ethertype = eth->h_proto;
	pos = eth + 1;

	// Up to two 802.1Q / 802.1ad tags (QinQ).
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (ethertype != bpf_htons(ETH_P_8021Q) && ethertype != bpf_htons(ETH_P_8021AD))
			break;
		__be16 *tag = pos; // TCI, then the encapsulated ethertype
		if ((void *)(tag + 2) > end)
			return COUNTER_PASSED;
		ethertype = tag[1];
		pos = tag + 2;
	}

	struct flow f = {};
	void *l4;
	enum parsed parsed;
	if (ethertype == bpf_htons(ETH_P_IP))
		parsed = parse_ipv4(pos, end, &f, &l4, 0);
	else if (ethertype == bpf_htons(ETH_P_IPV6))
		parsed = parse_ipv6(pos, end, &f, &l4);
	else
		return COUNTER_PASSED; // ARP, LLDP, a third VLAN tag, ...
	if (parsed == PARSED_FRAGMENT)
		return classify_fragment(pos, end, ethertype);
	if (parsed != PARSED_OK)
		return COUNTER_PASSED;

	if (f.proto == PROTO_ICMP && ethertype == bpf_htons(ETH_P_IP))
		return classify_icmp4(l4, end, &f);
	if (f.proto == PROTO_ICMPV6 && ethertype == bpf_htons(ETH_P_IPV6))
		return classify_icmp6(l4, end, &f);
	if (f.proto == PROTO_IPIP || f.proto == PROTO_IPV6)
		return classify_tunnel(l4, end, &f);
	if (!is_tcp_or_udp(f.proto))
		return COUNTER_PASSED;
	if (parse_ports(l4, end, &f))
		return COUNTER_PASSED;
	enum counter outcome = classify_transport(&f);
	if (outcome == COUNTER_PASSED && f.proto == PROTO_UDP)
		return classify_tunnel(l4, end, &f);
	return outcome;
}

SEC("xdp")
int fastlvs_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	enum counter outcome = classify(data, end);
	count(outcome);
	if (outcome == COUNTER_PASSED || outcome == COUNTER_PASSED_FRAGMENT)
		return XDP_PASS;

	// The low bits of flags are the action when the queue has no socket.
	long action = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	if (action != XDP_REDIRECT)
		count(COUNTER_NO_SOCKET);
	return action;
}

char _license[] SEC("license") = "Dual MIT/GPL";

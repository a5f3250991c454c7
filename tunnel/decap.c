//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
//
// fastlvs real-server decapsulation program.
//
// A fastlvs director in tunnel mode (IPVS "-i") sends a client's packet,
// unchanged and still addressed to the VIP, inside an outer IP header from
// the director to the real server. Kernels without the ipip/ip6_tunnel
// modules cannot take the outer header off; this XDP program does:
//
//   outer IPv4, protocol 4 (IPIP) or 41 (IPv6), or
//   outer IPv6, next header 4 or 41 (no extension headers),
//   addressed to one of this host's addresses (local_addrs map)
//     -> the outer header is removed, the EtherType set for the inner
//        packet, and XDP_PASS hands the client's own packet to the kernel,
//        which delivers it to the VIP held on lo.
//
// and GUE (draft-ietf-intarea-gue, as a director's `tunnel: gue` sends it):
//
//   outer IPv4 or IPv6, UDP to a port of the gue_ports map, to a local
//   address, then a GUE header: version 0 (data, C clear, hlen option
//   words, proto 4 or 41) or version 1 (the inner IP header directly)
//     -> outer IP, UDP and GUE headers removed, as above.
//
// Two refusals, each dropped and counted: a tunnel packet whose inner
// destination is not one of this host's addresses (a real server holds its
// VIPs on lo, so anything else was not meant for it), and, when the
// allowed_sources map is switched on (source_filter), one whose outer
// source is not in it (only the directors may tunnel to this host).
//
// Everything else passes untouched. Outer IPv4 fragments pass too (the
// kernel has no tunnel to reassemble them for: the director does not
// fragment, it drops oversize packets).
//
// Every frame increments exactly one counter.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define PROTO_IPIP 4
#define PROTO_IPV6 41
#define PROTO_UDP 17
#define IPV4_FRAG_MASK 0x3fff // MF and the fragment offset

// address is the key of local_addrs: IPv6, or IPv4 v4-mapped.
struct address {
	__u8 addr[16];
};

// Outcome counters, indexes into the per-CPU counters array.
enum counter {
	COUNTER_DECAP_4IN4 = 0,
	COUNTER_DECAP_6IN4 = 1,
	COUNTER_DECAP_4IN6 = 2,
	COUNTER_DECAP_6IN6 = 3,
	COUNTER_PASSED = 4,         // not a tunnel packet
	COUNTER_PASSED_NOT_LOCAL = 5, // a tunnel packet for another host
	COUNTER_PASSED_MALFORMED = 6, // truncated, fragmented, or inner version wrong
	COUNTER_DECAP_GUE = 7,        // GUE opened, either family in either
	COUNTER_DROPPED_SOURCE = 8,   // outer source not among allowed_sources
	COUNTER_DROPPED_INNER = 9,    // inner destination not one of this host's addresses
	COUNTER_MAX = 10,
};

// This host's addresses: only tunnel packets to them are opened.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct address);
	__type(value, __u8);
} local_addrs SEC(".maps");

// UDP ports (network byte order) GUE arrives on.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __be16);
	__type(value, __u8);
} gue_ports SEC(".maps");

// The directors allowed to tunnel to this host, as prefixes of the 16-byte
// form (IPv4 v4-mapped, its length + 96), used while source_filter[0] is 1.
struct source_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__type(key, struct source_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} allowed_sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8);
} source_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline int count(enum counter which)
{
	__u32 key = which;
	__u64 *value = bpf_map_lookup_elem(&counters, &key);
	if (value)
		*value += 1;
	return XDP_PASS;
}

// refuse counts a dropped frame.
static __always_inline int refuse(enum counter which)
{
	count(which);
	return XDP_DROP;
}

// source_allowed says whether a tunnel packet from src (16-byte form) may
// be opened: any, unless the source filter is on.
static __always_inline int source_allowed(const __u8 *src)
{
	__u32 zero = 0;
	__u8 *on = bpf_map_lookup_elem(&source_filter, &zero);
	if (!on || !*on)
		return 1;
	struct source_key key = {.prefixlen = 128};
	__builtin_memcpy(key.addr, src, 16);
	return bpf_map_lookup_elem(&allowed_sources, &key) != 0;
}

// Outcomes of inner_check.
enum inner_verdict { INNER_OK, INNER_MALFORMED, INNER_NOT_LOCAL };

// inner_check checks that pos starts an IP header of the family the outer
// protocol announced, addressed to one of this host's addresses.
static __always_inline enum inner_verdict inner_check(void *pos, void *end, __u8 proto)
{
	struct address dst = {};
	if (proto == PROTO_IPIP) {
		struct iphdr *ip = pos;
		if ((void *)(ip + 1) > end || ip->version != 4)
			return INNER_MALFORMED;
		dst.addr[10] = 0xff;
		dst.addr[11] = 0xff;
		__builtin_memcpy(&dst.addr[12], &ip->daddr, 4);
	} else {
		struct ipv6hdr *ip6 = pos;
		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return INNER_MALFORMED;
		__builtin_memcpy(dst.addr, &ip6->daddr, 16);
	}
	return bpf_map_lookup_elem(&local_addrs, &dst) ? INNER_OK : INNER_NOT_LOCAL;
}


// strip removes len bytes after the Ethernet header and gives the frame the
// inner packet's EtherType.
static __always_inline int strip(struct xdp_md *ctx, __u32 len, __u8 proto, enum counter which)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr eth;
	if (data + sizeof(eth) > end)
		return count(COUNTER_PASSED_MALFORMED);
	__builtin_memcpy(&eth, data, sizeof(eth));
	eth.h_proto = bpf_htons(proto == PROTO_IPIP ? ETH_P_IP : ETH_P_IPV6);
	if (bpf_xdp_adjust_head(ctx, (int)len))
		return count(COUNTER_PASSED_MALFORMED);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + sizeof(eth) > end)
		return count(COUNTER_PASSED_MALFORMED);
	__builtin_memcpy(data, &eth, sizeof(eth));
	return count(which);
}

// open_inner refuses or opens a tunnel packet whose inner header is at
// inner, len bytes (the outer headers) after the Ethernet header.
static __always_inline int open_inner(struct xdp_md *ctx, void *inner, void *end, __u32 len, __u8 proto,
				      enum counter which)
{
	switch (inner_check(inner, end, proto)) {
	case INNER_MALFORMED:
		return count(COUNTER_PASSED_MALFORMED);
	case INNER_NOT_LOCAL:
		return refuse(COUNTER_DROPPED_INNER);
	default:
		return strip(ctx, len, proto, which);
	}
}

// ---- GUE --------------------------------------------------------------

struct gue_udp {
	__be16 source;
	__be16 dest;
	__be16 len;
	__sum16 check;
};

// decap_gue opens the GUE packet whose UDP header is at pos, outer_len bytes
// (the outer IP header) after the Ethernet header. The caller has checked
// the outer destination is local and the packet is not a fragment.
static __always_inline int decap_gue(struct xdp_md *ctx, void *pos, void *end, __u32 outer_len)
{
	__u8 *gue = pos + sizeof(struct gue_udp);
	if ((void *)(gue + 4) > end)
		return count(COUNTER_PASSED_MALFORMED);
	__u32 skip = outer_len + sizeof(struct gue_udp);
	__u8 proto;
	switch (gue[0] >> 6) {
	case 0: // GUE header: C (bit 5) set is a control message, not ours
		if (gue[0] & 0x20)
			return count(COUNTER_PASSED);
		proto = gue[1];
		skip += 4 + (gue[0] & 0x1f) * 4;
		break;
	case 1: // direct IP encapsulation: the IP version nibble is 4 or 6
		proto = (gue[0] >> 4) == 4 ? PROTO_IPIP : PROTO_IPV6;
		break;
	default:
		return count(COUNTER_PASSED_MALFORMED);
	}
	if (proto != PROTO_IPIP && proto != PROTO_IPV6)
		return count(COUNTER_PASSED_MALFORMED);
	if (skip > 256)
		return count(COUNTER_PASSED_MALFORMED);
	void *data = (void *)(long)ctx->data;
	return open_inner(ctx, data + sizeof(struct ethhdr) + skip, end, skip, proto, COUNTER_DECAP_GUE);
}

// is_gue says whether the UDP header at pos is to a GUE port.
static __always_inline int is_gue(void *pos, void *end)
{
	struct gue_udp *udp = pos;
	if ((void *)(udp + 1) > end)
		return 0;
	return bpf_map_lookup_elem(&gue_ports, &udp->dest) != 0;
}

// ---- end of GUE ----------------------------------------------------------

static __always_inline int decap_ipv4(struct xdp_md *ctx, void *pos, void *end)
{
	struct iphdr *ip = pos;
	if ((void *)(ip + 1) > end)
		return count(COUNTER_PASSED_MALFORMED);
	if (ip->version != 4 || ip->ihl < 5)
		return count(ip->protocol == PROTO_IPIP || ip->protocol == PROTO_IPV6 ? COUNTER_PASSED_MALFORMED : COUNTER_PASSED);
	__u32 hlen = ip->ihl * 4;
	if (hlen > 60)
		return count(COUNTER_PASSED_MALFORMED);
	int gue = ip->protocol == PROTO_UDP && is_gue(pos + hlen, end);
	if (ip->protocol != PROTO_IPIP && ip->protocol != PROTO_IPV6 && !gue)
		return count(COUNTER_PASSED);

	struct address dst = {};
	dst.addr[10] = 0xff;
	dst.addr[11] = 0xff;
	__builtin_memcpy(&dst.addr[12], &ip->daddr, 4);
	if (!bpf_map_lookup_elem(&local_addrs, &dst))
		return count(COUNTER_PASSED_NOT_LOCAL);
	if (bpf_ntohs(ip->frag_off) & IPV4_FRAG_MASK)
		return count(COUNTER_PASSED_MALFORMED);
	struct address src = {};
	src.addr[10] = 0xff;
	src.addr[11] = 0xff;
	__builtin_memcpy(&src.addr[12], &ip->saddr, 4);
	if (!source_allowed(src.addr))
		return refuse(COUNTER_DROPPED_SOURCE);
	if (gue)
		return decap_gue(ctx, pos + hlen, end, hlen);
	return open_inner(ctx, pos + hlen, end, hlen, ip->protocol,
			  ip->protocol == PROTO_IPIP ? COUNTER_DECAP_4IN4 : COUNTER_DECAP_6IN4);
}

static __always_inline int decap_ipv6(struct xdp_md *ctx, void *pos, void *end)
{
	struct ipv6hdr *ip6 = pos;
	if ((void *)(ip6 + 1) > end)
		return count(COUNTER_PASSED_MALFORMED);
	int gue = ip6->nexthdr == PROTO_UDP && is_gue(ip6 + 1, end);
	if (ip6->nexthdr != PROTO_IPIP && ip6->nexthdr != PROTO_IPV6 && !gue)
		return count(COUNTER_PASSED);
	if (ip6->version != 6)
		return count(COUNTER_PASSED_MALFORMED);

	struct address dst;
	__builtin_memcpy(dst.addr, &ip6->daddr, 16);
	if (!bpf_map_lookup_elem(&local_addrs, &dst))
		return count(COUNTER_PASSED_NOT_LOCAL);
	if (!source_allowed(ip6->saddr.in6_u.u6_addr8))
		return refuse(COUNTER_DROPPED_SOURCE);
	if (gue)
		return decap_gue(ctx, ip6 + 1, end, sizeof(*ip6));
	return open_inner(ctx, pos + sizeof(*ip6), end, sizeof(*ip6), ip6->nexthdr,
			  ip6->nexthdr == PROTO_IPIP ? COUNTER_DECAP_4IN6 : COUNTER_DECAP_6IN6);
}

SEC("xdp")
int fastlvs_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return count(COUNTER_PASSED);
	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
		return decap_ipv4(ctx, eth + 1, end);
	case bpf_htons(ETH_P_IPV6):
		return decap_ipv6(ctx, eth + 1, end);
	}
	return count(COUNTER_PASSED);
}

char _license[] SEC("license") = "Dual MIT/GPL";

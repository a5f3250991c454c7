//go:build ignore

// SPDX-License-Identifier: GPL-2.0
// TOA reader for real servers behind a fastlvs FULLNAT director with
// client_address: toa. The director adds a TCP option to the client's
// handshake ACK and first data segment:
//
//	kind 254, length 8:  client port, client IPv4 address
//	kind 253, length 20: client port, client IPv6 address
//
// This sock_ops program, attached to a cgroup, reads it when a passive
// connection of a socket in that cgroup is established (the skb is the ACK
// that completed the handshake) and keeps it in the socket's local storage,
// where user space (package toa) reads it by the accepted socket's fd. When
// that ACK had no TOA (it was lost, the client's data completed the
// handshake), the connection asks to parse the next segments' unknown
// options until one carries it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TOA_KIND_IPV4 254
#define TOA_KIND_IPV6 253
#define TOA_LEN_IPV4 8
#define TOA_LEN_IPV6 20
#define TCP_MIN_HEADER 20
#define TCP_MAX_OPTION_BYTES 40

// toa_client mirrors toa.Client's wire form: family 4 or 6, the port in
// network order, the address (IPv4 in the first 4 bytes).
struct toa_client {
	__u8 family;
	__u8 pad;
	__u16 port;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct toa_client);
} toa_clients SEC(".maps");

// find_toa scans the TCP header's options at skb_data for a TOA option and
// copies it into out. It returns 1 when found.
static __always_inline int find_toa(struct bpf_sock_ops *skops, struct toa_client *out)
{
	__u8 *data = (__u8 *)(long)skops->skb_data;
	__u8 *end = (__u8 *)(long)skops->skb_data_end;
	if (data + TCP_MIN_HEADER > end)
		return 0;
	__u8 *opt = data + TCP_MIN_HEADER;
	// The verifier learns packet bounds only from comparisons with end, so
	// every read is checked against end as well as the options' end.
	__u8 *opt_end = data + ((data[12] >> 4) * 4);

#pragma unroll
	for (int i = 0; i < TCP_MAX_OPTION_BYTES; i++) {
		if (opt + 2 > end || opt + 2 > opt_end)
			return 0;
		__u8 kind = opt[0];
		if (kind == 0)
			return 0;
		if (kind == 1) {
			opt++;
			continue;
		}
		__u8 len = opt[1];
		if (len < 2)
			return 0;
		if (kind == TOA_KIND_IPV4 && len == TOA_LEN_IPV4) {
			if (opt + TOA_LEN_IPV4 > end || opt + TOA_LEN_IPV4 > opt_end)
				return 0;
			out->family = 4;
			__builtin_memcpy(&out->port, opt + 2, 2);
			__builtin_memcpy(out->addr, opt + 4, 4);
			return 1;
		}
		if (kind == TOA_KIND_IPV6 && len == TOA_LEN_IPV6) {
			if (opt + TOA_LEN_IPV6 > end || opt + TOA_LEN_IPV6 > opt_end)
				return 0;
			out->family = 6;
			__builtin_memcpy(&out->port, opt + 2, 2);
			__builtin_memcpy(out->addr, opt + 4, 16);
			return 1;
		}
		opt += len;
	}
	return 0;
}

static __always_inline void store(struct bpf_sock_ops *skops, struct toa_client *c)
{
	struct bpf_sock *sk = skops->sk;
	if (!sk)
		return;
	struct toa_client *v = bpf_sk_storage_get(&toa_clients, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (v)
		*v = *c;
}

SEC("sockops")
int fastlvs_toa(struct bpf_sock_ops *skops)
{
	struct toa_client c = {};
	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		if (find_toa(skops, &c)) {
			store(skops, &c);
			break;
		}
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						     BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG);
		break;
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		if (find_toa(skops, &c)) {
			store(skops, &c);
			bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags &
							     ~BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG);
		}
		break;
	}
	return 1;
}

char _license[] SEC("license") = "GPL";

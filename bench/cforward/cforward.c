// cforward: the bench's reference point, a minimal AF_XDP L2 forwarder on
// libxdp. It does what fastlvs's worker does with a frame minus the load
// balancing: one copy-mode socket per port, each with its own UMEM (4096
// frames of 2048 bytes, every ring 2048 deep, as fastlvs), batches of 64 from
// RX, the frame copied into a free frame of the other port's UMEM with its
// Ethernet addresses rewritten, one TX kick per batch. What fastlvs loses
// against it is the cost of fastlvs itself.
//
//	cforward -i IN -o OUT -I IN_PEER_MAC -O OUT_PEER_MAC -c CPU
//	         [-w poll|spin:N|busy] [-p normal|nice:N|fifo:N]
//
// Frames from IN leave OUT addressed to OUT_PEER_MAC and back. The idle
// policy says what an empty pass over both RX rings leads to: poll() at once,
// after N empty passes (fastlvs's worker's old policy: 256), or never. It prints
// "cforward running" once both sockets are bound and its counts on SIGTERM.
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#define FRAMES 4096
#define FRAME_SIZE 2048
#define RING_SIZE 2048
#define BATCH 64
#define POLL_TIMEOUT_MS 1 // as fastlvs: a stop request is seen within a millisecond

#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9 // copy mode's frames per sendto (kernel 6.15+)
#endif

struct port {
	const char *ifname;
	unsigned char mac[6];  // this port's own address: the source of what it sends
	unsigned char peer[6]; // the neighbour that frames leaving this port go to
	void *area;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	// free holds the UMEM frames in no ring: popped for copies and the fill
	// ring, pushed from the completion ring.
	__u64 free[FRAMES];
	unsigned nfree;
	unsigned long long received, sent, dropped, kicks;
};

static struct port ports[2];
static volatile sig_atomic_t stopping;

enum idle_policy { IDLE_POLL, IDLE_SPIN, IDLE_BUSY };

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "cforward: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

// Only the libraries' warnings reach the log: their notes on every program
// load would bury the line the bench waits for.
static int libbpf_warnings(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

static int libxdp_warnings(enum libxdp_print_level level, const char *fmt, va_list args)
{
	return level == LIBXDP_WARN ? vfprintf(stderr, fmt, args) : 0;
}

static int parse_mac(const char *s, unsigned char mac[6])
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6;
}

static void read_own_mac(struct port *p)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->ifname);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		die(p->ifname, errno);
	memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
}

// refill gives the kernel free frames to receive into, as many as fit.
static void refill(struct port *p)
{
	__u32 idx;
	unsigned n = xsk_prod_nb_free(&p->fill, p->nfree);
	if (n > p->nfree)
		n = p->nfree;
	if (n == 0 || xsk_ring_prod__reserve(&p->fill, n, &idx) != n)
		return;
	for (unsigned i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&p->fill, idx + i) = p->free[--p->nfree];
	xsk_ring_prod__submit(&p->fill, n);
}

// reclaim takes back the frames the kernel has finished sending.
static void reclaim(struct port *p)
{
	__u32 idx;
	unsigned n = xsk_ring_cons__peek(&p->comp, RING_SIZE, &idx);
	for (unsigned i = 0; i < n; i++)
		p->free[p->nfree++] = *xsk_ring_cons__comp_addr(&p->comp, idx + i);
	if (n)
		xsk_ring_cons__release(&p->comp, n);
}

static void open_port(struct port *p)
{
	struct xsk_umem_config ucfg = {
		.fill_size = RING_SIZE, .comp_size = RING_SIZE, .frame_size = FRAME_SIZE,
	};
	struct xsk_socket_config scfg = {
		.rx_size = RING_SIZE, .tx_size = RING_SIZE,
		.xdp_flags = XDP_FLAGS_DRV_MODE,
		.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	size_t len = (size_t)FRAMES * FRAME_SIZE;
	p->area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->area == MAP_FAILED)
		die("map umem", errno);
	int err = xsk_umem__create(&p->umem, p->area, len, &p->fill, &p->comp, &ucfg);
	if (err)
		die("create umem", err);
	// libxdp loads its default program (one redirect into the socket map)
	// and attaches it natively; where its dispatcher cannot load, it falls
	// back to attaching that program alone.
	err = xsk_socket__create(&p->xsk, p->ifname, 0, p->umem, &p->rx, &p->tx, &scfg);
	if (err)
		die(p->ifname, err);
	int budget = RING_SIZE; // one sendto per batch, as fastlvs asks for
	setsockopt(xsk_socket__fd(p->xsk), SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget));
	for (unsigned i = 0; i < FRAMES; i++)
		p->free[p->nfree++] = (__u64)(FRAMES - 1 - i) * FRAME_SIZE;
	// Half the frames wait in the fill ring, half stay free for copies.
	__u32 idx;
	if (xsk_ring_prod__reserve(&p->fill, FRAMES / 2, &idx) != FRAMES / 2)
		die("fill ring", ENOSPC);
	for (unsigned i = 0; i < FRAMES / 2; i++)
		*xsk_ring_prod__fill_addr(&p->fill, idx + i) = p->free[--p->nfree];
	xsk_ring_prod__submit(&p->fill, FRAMES / 2);
}

// kick tells the kernel there is TX work; copy mode sends from sendto.
static void kick(struct port *p)
{
	if (!xsk_ring_prod__needs_wakeup(&p->tx))
		return;
	p->kicks++;
	if (sendto(xsk_socket__fd(p->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
	    errno != EAGAIN && errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN)
		die("sendto", errno);
}

// forward moves one batch from in's RX to out's TX; returns frames received.
static unsigned forward(struct port *in, struct port *out)
{
	__u32 rx_idx, tx_idx;
	unsigned n = xsk_ring_cons__peek(&in->rx, BATCH, &rx_idx);
	if (n == 0)
		return 0;
	reclaim(out);
	unsigned room = n < out->nfree ? n : out->nfree;
	unsigned m = xsk_ring_prod__reserve(&out->tx, room, &tx_idx) == room ? room : 0;
	for (unsigned i = 0; i < n; i++) {
		const struct xdp_desc *rd = xsk_ring_cons__rx_desc(&in->rx, rx_idx + i);
		if (i < m) {
			__u64 addr = out->free[--out->nfree];
			unsigned char *frame = xsk_umem__get_data(out->area, addr);
			memcpy(frame, xsk_umem__get_data(in->area, rd->addr), rd->len);
			memcpy(frame, out->peer, 6);
			memcpy(frame + 6, out->mac, 6);
			struct xdp_desc *td = xsk_ring_prod__tx_desc(&out->tx, tx_idx + i);
			td->addr = addr;
			td->len = rd->len;
		}
		in->free[in->nfree++] = xsk_umem__extract_addr(rd->addr);
	}
	xsk_ring_cons__release(&in->rx, n);
	in->received += n;
	in->dropped += n - m;
	if (m) {
		xsk_ring_prod__submit(&out->tx, m);
		out->sent += m;
		kick(out);
	}
	refill(in);
	return n;
}

static void idle_wait(void)
{
	struct pollfd fds[2] = {
		{.fd = xsk_socket__fd(ports[0].xsk), .events = POLLIN},
		{.fd = xsk_socket__fd(ports[1].xsk), .events = POLLIN},
	};
	poll(fds, 2, POLL_TIMEOUT_MS);
}

static void run(enum idle_policy policy, unsigned spins)
{
	unsigned empty = 0;
	while (!stopping) {
		unsigned got = forward(&ports[0], &ports[1]) + forward(&ports[1], &ports[0]);
		if (got) {
			empty = 0;
			continue;
		}
		// Nothing came: finish what is on the TX rings, then wait if the
		// policy says so.
		for (int i = 0; i < 2; i++) {
			reclaim(&ports[i]);
			if (xsk_prod_nb_free(&ports[i].tx, RING_SIZE) < RING_SIZE)
				kick(&ports[i]);
		}
		if (policy == IDLE_POLL || (policy == IDLE_SPIN && ++empty >= spins)) {
			empty = 0;
			idle_wait();
		}
	}
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("pin to cpu", errno);
}

// set_priority applies normal, nice:N or fifo:N to this (the only) thread,
// the values fastlvs's worker_priority takes.
static void set_priority(const char *spec)
{
	int n;
	if (strcmp(spec, "normal") == 0)
		return;
	if (sscanf(spec, "nice:%d", &n) == 1) {
		if (setpriority(PRIO_PROCESS, 0, n) < 0)
			die("setpriority", errno);
		return;
	}
	if (sscanf(spec, "fifo:%d", &n) == 1) {
		struct sched_param param = {.sched_priority = n};
		if (sched_setscheduler(0, SCHED_FIFO, &param) < 0)
			die("sched_setscheduler", errno);
		return;
	}
	fprintf(stderr, "cforward: priority %s: want normal, nice:N or fifo:N\n", spec);
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: cforward -i IN -o OUT -I IN_PEER_MAC -O OUT_PEER_MAC -c CPU "
			"[-w poll|spin:N|busy] [-p normal|nice:N|fifo:N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *idle = "poll", *priority = "normal";
	int cpu = -1, opt;
	unsigned spins = 0;
	enum idle_policy policy;
	while ((opt = getopt(argc, argv, "i:o:I:O:c:w:p:")) != -1) {
		switch (opt) {
		case 'i': ports[0].ifname = optarg; break;
		case 'o': ports[1].ifname = optarg; break;
		case 'I': if (!parse_mac(optarg, ports[0].peer)) usage(); break;
		case 'O': if (!parse_mac(optarg, ports[1].peer)) usage(); break;
		case 'c': cpu = atoi(optarg); break;
		case 'w': idle = optarg; break;
		case 'p': priority = optarg; break;
		default: usage();
		}
	}
	if (!ports[0].ifname || !ports[1].ifname || cpu < 0)
		usage();
	if (strcmp(idle, "poll") == 0)
		policy = IDLE_POLL;
	else if (strcmp(idle, "busy") == 0)
		policy = IDLE_BUSY;
	else if (sscanf(idle, "spin:%u", &spins) == 1 && spins > 0)
		policy = IDLE_SPIN;
	else
		usage();

	libbpf_set_print(libbpf_warnings);
	libxdp_set_print(libxdp_warnings);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	pin(cpu);
	for (int i = 0; i < 2; i++) {
		read_own_mac(&ports[i]);
		open_port(&ports[i]);
	}
	set_priority(priority);
	printf("cforward running: %s <-> %s, cpu %d, idle %s, priority %s\n",
	       ports[0].ifname, ports[1].ifname, cpu, idle, priority);
	fflush(stdout);
	run(policy, spins);
	for (int i = 0; i < 2; i++) {
		struct port *p = &ports[i];
		printf("%s: received %llu sent %llu dropped %llu (no tx room) kicks %llu\n",
		       p->ifname, p->received, p->sent, p->dropped, p->kicks);
		xsk_socket__delete(p->xsk);
		xsk_umem__delete(p->umem);
	}
	return 0;
}

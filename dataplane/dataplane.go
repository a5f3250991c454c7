package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"

	"fastlvs/conntrack"
	"fastlvs/dataplane/steer"
	"fastlvs/nexthop"
	"fastlvs/spsc"
	"fastlvs/xsk"
)

// Config sizes the dataplane. The control plane fills it from the validated
// configuration.
type Config struct {
	Interfaces   []string
	VLANs        []nexthop.VLANDevice // named VLAN devices (nexthop/vlan.go)
	Workers      int                  // 0 = one per queue of the first interface
	CPUs         []int                // worker i runs on CPUs[i % len]; empty = CPU i % NumCPU
	Frames       int                  // UMEM frames per socket; a worker's sockets pool theirs (bind.go)
	RingSize     int
	XDPMode      steer.Mode
	Bind         BindMode // how the AF_XDP sockets bind (bind.go)
	ConnCapacity int      // per worker
	Timeouts     conntrack.Timeouts
	Pressure     conntrack.Pressure
	Priority     Priority // of every worker thread (priority.go)
}

// Port is one interface: its steering program and one socket per worker.
type Port struct {
	Name    string
	Index   int
	Program *steer.Program
	Sockets []*xsk.Socket
}

// Dataplane owns the ports and workers and publishes tables to them.
type Dataplane struct {
	cfg      Config
	Ports    []*Port
	Workers  []*Worker
	Registry *Registry
	Resolver *nexthop.Resolver
	table    atomic.Pointer[Table]
	stop     atomic.Bool
	asking   sync.Mutex // one OnWorker at a time: a worker holds one request
	wg       sync.WaitGroup
}

// QueueCount reads how many RX queues an interface has.
func QueueCount(iface string) (int, error) {
	entries, err := filepath.Glob(filepath.Join("/sys/class/net", iface, "queues", "rx-*"))
	if err != nil || len(entries) == 0 {
		return 0, fmt.Errorf("count queues of %s: none found (does the interface exist?)", iface)
	}
	return len(entries), nil
}

// New attaches the steering program to every interface, opens one AF_XDP
// socket per queue and makes the workers. Nothing runs until Run.
func New(cfg Config) (dp *Dataplane, err error) {
	if len(cfg.Interfaces) == 0 {
		return nil, errors.New("no interfaces")
	}
	queues := 0
	for i, name := range cfg.Interfaces {
		n, err := QueueCount(name)
		if err != nil {
			return nil, err
		}
		if i == 0 || n < queues {
			queues = n
		}
	}
	if cfg.Workers == 0 {
		cfg.Workers = queues
	}
	if cfg.Workers > queues {
		return nil, fmt.Errorf("workers %d: more than the %d queues of %v", cfg.Workers, queues, cfg.Interfaces)
	}
	dp = &Dataplane{cfg: cfg, Registry: NewRegistry(cfg.Workers)}
	opened := dp // a failed New returns nil: close what it opened, not dp
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	if dp.Resolver, err = nexthop.NewResolver(cfg.Interfaces, cfg.VLANs); err != nil {
		return nil, err
	}
	perWorker := dp.ConnCapacityPerWorker()
	for w := 0; w < cfg.Workers; w++ {
		conns, err := conntrack.New(conntrack.Config{Capacity: perWorker, TemplateCapacity: max(1024, perWorker/4), Timeouts: cfg.Timeouts, Pressure: cfg.Pressure})
		if err != nil {
			return nil, fmt.Errorf("make connection table of worker %d: %w", w, err)
		}
		worker := newWorker(w, cfg.Workers, conns, &dp.table, dp.Resolver.Snapshot, dp.Resolver.WantQueue())
		worker.priority = cfg.Priority
		worker.CPU = w % max(1, runtime.NumCPU())
		if len(cfg.CPUs) > 0 {
			worker.CPU = cfg.CPUs[w%len(cfg.CPUs)]
		}
		dp.Workers = append(dp.Workers, worker)
	}
	for _, name := range cfg.Interfaces {
		port, err := openPort(name, cfg, dp.firstSockets())
		if err != nil {
			return nil, err
		}
		dp.Ports = append(dp.Ports, port)
		for w, worker := range dp.Workers {
			worker.addPort(port.Sockets[w])
		}
	}
	connectWorkers(dp.Workers)
	return dp, nil
}

// connectWorkers gives each worker, once its ports are added, its poller
// and a hand-over ring to every other worker.
func connectWorkers(workers []*Worker) {
	for _, worker := range workers {
		var socks []*xsk.Socket
		for _, p := range worker.ports {
			socks = append(socks, p.sock)
		}
		worker.poller = xsk.NewPoller(socks...)
		worker.outbox = make([]*spsc.Ring[handoffSlot], len(workers))
	}
	for _, from := range workers {
		for _, to := range workers {
			if from != to {
				r := spsc.New[handoffSlot](handoffSlots)
				from.outbox[to.ID] = r
				to.inbox = append(to.inbox, r)
			}
		}
	}
}

// firstSockets are the sockets of the first port opened, one per worker,
// whose UMEMs the worker's sockets on later ports share; nil before it.
func (dp *Dataplane) firstSockets() []*xsk.Socket {
	if len(dp.Ports) == 0 {
		return nil
	}
	return dp.Ports[0].Sockets
}

// openPort attaches the steering program to the interface and opens one
// socket per worker. Worker q's socket shares the UMEM of shareWith[q] when
// given, so a frame crossing from one port to another leaves in place
// instead of being copied; the first port's UMEM is sized for every port.
func openPort(name string, cfg Config, shareWith []*xsk.Socket) (*Port, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find interface %s: %w", name, err)
	}
	if vlan, ok := link.(*netlink.Vlan); ok {
		return nil, vlanInterfaceError(vlan)
	}
	port := &Port{Name: name, Index: link.Attrs().Index}
	if port.Program, err = steer.Attach(port.Index, cfg.XDPMode); err != nil {
		return nil, fmt.Errorf("attach steering program to %s: %w", name, err)
	}
	for q := 0; q < cfg.Workers; q++ {
		sock, err := openSocket(port, q, cfg, shareWith)
		if err != nil {
			port.close()
			return nil, fmt.Errorf("open af_xdp socket on %s queue %d: %w", name, q, err)
		}
		port.Sockets = append(port.Sockets, sock)
		if err := port.Program.RegisterSocket(q, sock.FD()); err != nil {
			port.close()
			return nil, fmt.Errorf("register socket of %s queue %d: %w", name, q, err)
		}
	}
	zeroCopy, err := port.Sockets[0].ZeroCopy()
	if err != nil {
		port.close()
		return nil, err
	}
	af := "copy"
	if zeroCopy {
		af = "zerocopy"
	}
	slog.Info("port ready", "iface", name, "queues", cfg.Workers, "xdp_mode", port.Program.Mode().String(), "af_xdp", af)
	return port, nil
}

func (p *Port) close() {
	if p.Program != nil {
		_ = p.Program.Close()
	}
	for _, s := range p.Sockets {
		_ = s.Close()
	}
}

// Now reads the clock workers use for timers and drain deadlines.
func Now() int64 { return xsk.MonotonicNanos() }

// ConnCapacityPerWorker splits the director's connection capacity evenly
// over the workers: each owns its own table.
func (dp *Dataplane) ConnCapacityPerWorker() int {
	return max(1024, (dp.cfg.ConnCapacity+dp.cfg.Workers-1)/dp.cfg.Workers)
}

// Table returns the table the workers use now.
func (dp *Dataplane) Table() *Table { return dp.table.Load() }

// Publish makes t the table every worker uses from its next batch and
// points the steering programs at its services. Established connections are
// untouched: they live in the workers' connection tables, not in t.
func (dp *Dataplane) Publish(t *Table) error {
	services, replies, locals := t.SteeringEndpoints()
	hostAddrs, err := hostAddresses()
	if err != nil {
		return err
	}
	// Steer the new endpoints before the table is visible: a packet for a new
	// service that reaches a worker still on the old table is dropped as
	// reply_no_conn (counted) rather than answered by the kernel with a reset.
	for _, p := range dp.Ports {
		if err := p.Program.SetServices(toEndpoints(services)); err != nil {
			return err
		}
		if err := p.Program.SetReplySources(toEndpoints(replies)); err != nil {
			return err
		}
		if err := p.Program.SetLocalAddresses(locals); err != nil {
			return err
		}
		if err := p.Program.SetHostAddresses(hostAddrs); err != nil {
			return err
		}
		accept := t.Spec.OverflowAccept
		if err := p.Program.SetOverflowAccept(len(accept.From) > 0, accept.GUEPort); err != nil {
			return err
		}
	}
	dp.table.Store(t)
	var reals []netip.Addr
	for _, svc := range t.Services() {
		for _, r := range svc.Reals() {
			reals = append(reals, r.Spec.Addr)
		}
	}
	dp.Resolver.Prefetch(reals)
	return nil
}

func toEndpoints(keys []ServiceKey) []steer.Endpoint {
	eps := make([]steer.Endpoint, len(keys))
	for i, k := range keys {
		eps[i] = steer.Endpoint{Addr: k.Addr, Port: k.Port, Proto: k.Proto}
	}
	return eps
}

// hostAddresses lists every address the kernel holds here: replies to them
// (health checks) stay in the kernel.
func hostAddresses() ([][16]byte, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	out := make([][16]byte, 0, len(addrs))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap().As16())
		}
	}
	return out, nil
}

// Run starts the resolver and the workers and blocks until ctx ends, then
// stops the workers. The caller closes the dataplane once nothing else reads
// its sockets (the metrics endpoint does).
func (dp *Dataplane) Run(ctx context.Context) {
	resolverCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go dp.Resolver.RoutineResolve(resolverCtx)
	if dp.cfg.Priority.Policy == PriorityFIFO {
		go dp.RoutineWatchdog(resolverCtx)
	}
	xsk.ReserveWorkerProcs(len(dp.Workers))
	for _, w := range dp.Workers {
		dp.wg.Add(1)
		go func() {
			defer dp.wg.Done()
			if err := xsk.PinThread(w.CPU); err != nil {
				slog.Warn("worker runs unpinned", "worker", w.ID, "err", err)
			}
			if err := w.applyPriority(); err != nil {
				slog.Warn("worker runs at normal priority", "worker", w.ID, "want", w.priority, "err", err)
			}
			slog.Info("worker started", "worker", w.ID, "cpu", w.CPU, "priority", w.priority)
			w.RoutineWorker(&dp.stop)
			slog.Info("worker stopped", "worker", w.ID)
		}()
	}
	<-ctx.Done()
	dp.stop.Store(true)
	dp.wg.Wait()
}

// Close detaches the programs and closes the sockets. Run calls it.
func (dp *Dataplane) Close() {
	for _, p := range dp.Ports {
		p.close()
	}
	dp.Ports = nil
}

// OnWorker runs fn on each worker's own goroutine between batches (listing
// connections, changing timeouts) and waits for all, or for timeout.
// Concurrent callers take turns: a worker has room for one request, and a
// second caller's would replace the first's, which then never ran.
func (dp *Dataplane) OnWorker(timeout time.Duration, fn func(w *Worker, conns *conntrack.Table)) error {
	dp.asking.Lock()
	defer dp.asking.Unlock()
	deadline := time.After(timeout)
	for _, w := range dp.Workers {
		r := &request{done: make(chan struct{})}
		r.fn = func(c *conntrack.Table) { fn(w, c) }
		w.requests.Store(r)
		select {
		case <-r.done:
		case <-deadline:
			return fmt.Errorf("worker %d did not answer within %s", w.ID, timeout)
		}
	}
	return nil
}

package control

// The daemon's side of scale-out: the embedded BGP speaker announces the VIPs
// of usable services as the table changes, and a stopping director drains
// (withdraws every VIP, keeps forwarding for drain_grace, then stops).

import (
	"context"
	"fastlvs/control/config"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"fastlvs/control/api"
	"fastlvs/control/bgp"
	"fastlvs/dataplane"
)

// usableVIPs lists the routes of the VIPs with at least one usable service
// in the table spec compiled from cfg: a service whose real servers (the
// sorry server not counted) carry a total weight of at least its quorum (1
// when it has none). A route is the VIP's host prefix with its services'
// own attributes. spec.Services follows cfg.Services one to one.
func usableVIPs(cfg *config.Config, spec *dataplane.TableSpec) []bgp.Route {
	var out []bgp.Route
	for i := range spec.Services {
		svc, sc := &spec.Services[i], &cfg.Services[i]
		weight := 0
		for _, real := range svc.Reals {
			if sc.SorryServer != nil && real.Addr == sc.SorryServer.Address.Unmap() && real.Port == uint16(sc.SorryServer.Port) {
				continue
			}
			weight += int(real.Weight)
		}
		if weight < max(1, sc.Quorum) {
			continue
		}
		vip := svc.VIP.Unmap()
		route := bgp.Route{Prefix: netip.PrefixFrom(vip, vip.BitLen())}
		if slices.ContainsFunc(out, func(r bgp.Route) bool { return r.Prefix == route.Prefix }) {
			continue
		}
		if own := sc.BGP; own != nil {
			route.MED = uint32(own.MED)
			route.Communities, _ = config.ParseCommunities("", own.Communities) // validated
		}
		out = append(out, route)
	}
	return out
}

// observeTableLocked is told of every published table: it hands the usable
// VIPs to the speaker, which announces and withdraws without blocking us.
func (d *Daemon) observeTableLocked(cfg *config.Config, spec *dataplane.TableSpec) {
	d.usable = usableVIPs(cfg, spec)
	if d.speaker != nil {
		d.speaker.Want(d.usable)
	}
}

// bgpSettings translates the validated bgp section.
func bgpSettings(b *config.BGPConfig) (bgp.Settings, error) {
	communities, err := config.ParseCommunities("bgp.communities", b.Communities)
	if err != nil {
		return bgp.Settings{}, err
	}
	settings := bgp.Settings{
		ASN:         uint32(b.ASN),
		RouterID:    b.RouterID,
		ListenPort:  b.ListenPort,
		Communities: communities,
		MED:         uint32(b.MED),
		NextHops:    b.NextHop,
	}
	for _, p := range b.Peers {
		settings.Peers = append(settings.Peers, bgp.Peer{
			Address: p.Address, Port: uint16(p.Port), ASN: uint32(p.ASN),
			HoldTime: p.HoldTime, Password: p.Password, Passive: p.Passive,
		})
	}
	return settings, nil
}

// startBGP starts the speaker when the configuration has a bgp section and
// announces what the current table makes usable.
func (d *Daemon) startBGP(ctx context.Context) error {
	cfg := d.Config()
	if cfg.BGP == nil {
		return nil
	}
	settings, err := bgpSettings(cfg.BGP)
	if err != nil {
		return err
	}
	speaker, err := bgp.Start(ctx, settings, slog.Default())
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.speaker = speaker
	speaker.Want(d.usable)
	return nil
}

// stopBGP closes the sessions (routers drop our routes at once).
func (d *Daemon) stopBGP() {
	d.mu.Lock()
	speaker := d.speaker
	d.mu.Unlock()
	if speaker != nil {
		speaker.Stop()
	}
}

// withdrawAll starts a drain: every VIP is withdrawn for good. It returns
// how long to keep forwarding: drain_grace with a speaker, nothing without
// (no router is told, so waiting would only delay the stop).
func (d *Daemon) withdrawAll() time.Duration {
	d.mu.Lock()
	speaker, grace := d.speaker, d.cfg.DrainGrace
	d.mu.Unlock()
	if speaker == nil {
		return 0
	}
	if err := speaker.WithdrawAll(); err != nil {
		slog.Error("drain: withdraw", "err", err)
	}
	slog.Info("draining: VIPs withdrawn, forwarding on", "grace", grace)
	return grace
}

// Drain withdraws every VIP and stops the daemon once drain_grace has
// passed (POST /v1/drain). A second call changes nothing.
func (d *Daemon) Drain() error {
	d.drainOnce.Do(func() {
		grace := d.withdrawAll()
		go func() {
			time.Sleep(grace)
			close(d.drained)
		}()
	})
	return nil
}

// routineDrainOnStop waits for a stop (signal or ctx) or a drain request,
// drains and then stops the dataplane.
func (d *Daemon) routineDrainOnStop(ctx context.Context, stopDataplane context.CancelFunc) {
	select {
	case <-ctx.Done():
		d.Drain()
		<-d.drained
	case <-d.drained:
	}
	stopDataplane()
}

// BGPStatus reports the speaker's sessions and announced prefixes.
func (d *Daemon) BGPStatus(ctx context.Context) (api.BGPStatus, error) {
	d.mu.Lock()
	speaker := d.speaker
	d.mu.Unlock()
	if speaker == nil {
		return api.BGPStatus{Sessions: []api.BGPSession{}, Announced: []netip.Prefix{}}, nil
	}
	return speaker.Status(ctx)
}

// scaleOutBackend adds the daemon's BGP status and drain to its API backend.
type scaleOutBackend struct {
	api.Backend
	daemon *Daemon
}

func (b scaleOutBackend) BGP() (api.BGPStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), workerAnswerTimeout)
	defer cancel()
	return b.daemon.BGPStatus(ctx)
}

func (b scaleOutBackend) Drain() error { return b.daemon.Drain() }

// bgpText renders a bgp section for comparison ("none" when absent).
func bgpText(b *config.BGPConfig) string {
	if b == nil {
		return "none"
	}
	return fmt.Sprintf("%+v", *b)
}

package control

import (
	"fastlvs/control/config"
	"fmt"
	"net/netip"
	"time"

	"fastlvs/conntrack"
	"fastlvs/dataplane"
	"fastlvs/dataplane/steer"
	"fastlvs/nexthop"
	"fastlvs/sched"
)

// RealServerKey names one real server of one service, as health checks and
// the API refer to it.
type RealServerKey struct {
	Service dataplane.ServiceKey
	Real    netip.AddrPort
}

// Override is what health checking says about a real server: down servers
// are taken out of rotation (weight 0 when the check inhibits on failure,
// removed otherwise); an exec check may also set the weight.
type Override struct {
	Down   bool
	Weight int // -1 = keep the configured weight
}

// CompileTable turns a validated configuration into the spec of a dataplane
// table, applying health-check overrides. It touches nothing running.
func CompileTable(cfg *config.Config, overrides map[RealServerKey]Override) (dataplane.TableSpec, error) {
	spec := dataplane.TableSpec{
		ExpireNodestConn:        cfg.Options.ExpireNodestConn,
		ExpireQuiescentTemplate: cfg.Options.ExpireQuiescentTemplate,
		SloppyTCP:               cfg.Options.SloppyTCP,
	}
	if a := cfg.OverflowAccept; a != nil {
		spec.OverflowAccept = dataplane.OverflowAcceptSpec{From: a.From, GUEPort: uint16(a.GUEPort)}
	}
	for i := range cfg.Services {
		sc := &cfg.Services[i]
		svc, err := compileService(sc)
		if err != nil {
			return spec, fmt.Errorf("services[%d]: %w", i, err)
		}
		key := svc.Key()
		for j := range sc.RealServers {
			rc := &sc.RealServers[j]
			real := dataplane.RealSpec{
				Addr:           rc.Address.Unmap(),
				Port:           uint16(rc.Port),
				Weight:         int32(rc.Weight),
				UpperThreshold: uint32(rc.UpperThreshold),
				LowerThreshold: uint32(rc.LowerThreshold),
			}
			if o, ok := overrides[RealServerKey{Service: key, Real: netip.AddrPortFrom(real.Addr, real.Port)}]; ok {
				if o.Weight >= 0 {
					real.Weight = int32(o.Weight)
				}
				if o.Down {
					if !healthCheckOf(sc, rc).InhibitOnFailure {
						continue // removed from rotation; its connections live on
					}
					real.Weight = 0
				}
			}
			svc.Reals = append(svc.Reals, real)
		}
		if sc.SorryServer != nil && liveWeight(svc.Reals) < max(1, sc.Quorum) {
			// Quorum lost (by default: nobody left): like keepalived, the
			// sorry server alone takes new connections.
			svc.Reals = []dataplane.RealSpec{{Addr: sc.SorryServer.Address.Unmap(), Port: uint16(sc.SorryServer.Port), Weight: 1}}
		}
		spec.Services = append(spec.Services, svc)
	}
	return spec, nil
}

// liveWeight is the total weight of the servers that take new connections.
func liveWeight(reals []dataplane.RealSpec) int {
	total := 0
	for _, r := range reals {
		total += int(r.Weight)
	}
	return total
}

func compileService(sc *config.ServiceConfig) (dataplane.ServiceSpec, error) {
	method, err := dataplane.ParseMethod(sc.Forward)
	if err != nil {
		return dataplane.ServiceSpec{}, fmt.Errorf("forward: %w", err)
	}
	clientAddress, err := dataplane.ParseClientAddress(sc.ClientAddress)
	if err != nil {
		return dataplane.ServiceSpec{}, fmt.Errorf("client_address: %w", err)
	}
	var flags sched.Flags
	for _, f := range sc.Flags {
		fl, err := sched.ParseFlag(f)
		if err != nil {
			return dataplane.ServiceSpec{}, fmt.Errorf("flags: %w", err)
		}
		flags |= fl
	}
	proto := dataplane.ProtoTCP
	if sc.Protocol == "udp" {
		proto = dataplane.ProtoUDP
	}
	return dataplane.ServiceSpec{
		Name:            sc.Name,
		VIP:             sc.VIP.Unmap(),
		Port:            uint16(sc.Port),
		Proto:           proto,
		Scheduler:       sc.Scheduler,
		Flags:           flags,
		MaglevTableSize: uint64(sc.MaglevTableSize),
		Method:          method,
		Persistence:     sc.Persistence,
		PersistenceBits: sc.PersistencePrefix,
		LocalAddresses:  sc.LocalAddresses,
		SynProxy:        sc.SynProxy,
		ClientAddress:   clientAddress,
		GUE:             sc.Tunnel == "gue",
		GUEPort:         uint16(sc.GUEPort),
		Overflow:        compileOverflow(sc.Overflow),
	}, nil
}

// compileOverflow is a validated overflow section as the dataplane takes it.
func compileOverflow(o *config.OverflowConfig) dataplane.OverflowSpec {
	if o == nil {
		return dataplane.OverflowSpec{}
	}
	return dataplane.OverflowSpec{To: o.To.Unmap(), High: o.High, Low: o.Low, Capacity: uint32(o.Capacity),
		GUE: o.Tunnel == "gue", GUEPort: uint16(o.GUEPort)}
}

// healthCheckOf is the check that applies to a real server: its own
// override, else its service's.
func healthCheckOf(sc *config.ServiceConfig, rc *config.RealServerConfig) *config.HealthCheckConfig {
	if rc.HealthCheck != nil {
		return rc.HealthCheck
	}
	return &sc.HealthCheck
}

// CompileDataplane sizes the dataplane from the configuration.
func CompileDataplane(cfg *config.Config) (dataplane.Config, error) {
	mode := steer.ModeAuto
	switch cfg.XDPMode {
	case "native":
		mode = steer.ModeNative
	case "generic":
		mode = steer.ModeGeneric
	}
	var vlans []nexthop.VLANDevice
	for _, v := range cfg.VLANs {
		vlans = append(vlans, nexthop.VLANDevice{Parent: v.Interface, ID: uint16(v.ID), Device: v.Device})
	}
	priority, err := dataplane.ParsePriority(cfg.WorkerPriority)
	if err != nil {
		return dataplane.Config{}, fmt.Errorf("worker_priority: %w", err)
	}
	bind, err := dataplane.ParseBindMode(cfg.AFXDPBind)
	if err != nil {
		return dataplane.Config{}, fmt.Errorf("af_xdp_bind: %w", err)
	}
	return dataplane.Config{
		Interfaces:   cfg.Interfaces,
		VLANs:        vlans,
		Workers:      cfg.Workers,
		CPUs:         cfg.CPUs,
		Frames:       cfg.UMEMFrames,
		RingSize:     cfg.RingSize,
		XDPMode:      mode,
		Bind:         bind,
		ConnCapacity: cfg.Conntrack.Capacity,
		Timeouts:     compileTimeouts(cfg.Conntrack.Timeouts),
		Pressure:     compilePressure(cfg.Conntrack.Pressure),
		Priority:     priority,
	}, nil
}

// compileTimeouts applies the configured timeouts over IPVS's defaults
// (an omitted one keeps IPVS's value). Every field of the result is set, so
// installing it with Table.SetTimeouts replaces every state's timeout.
func compileTimeouts(t config.ConntrackTimeouts) conntrack.Timeouts {
	out := conntrack.DefaultTimeouts()
	for _, f := range []struct {
		value time.Duration
		dst   *time.Duration
	}{
		{t.TCP, &out.Established}, {t.TCPFin, &out.FinWait}, {t.UDP, &out.UDP},
		{t.TCPSynSent, &out.SynSent}, {t.TCPSynRecv, &out.SynRecv}, {t.TCPTimeWait, &out.TimeWait},
		{t.TCPClose, &out.Close}, {t.TCPCloseWait, &out.CloseWait}, {t.TCPLastAck, &out.LastAck},
		{t.TCPListen, &out.Listen}, {t.TCPSynAck, &out.SynAck}, {t.TCPNone, &out.None}, {t.ICMP, &out.ICMP},
	} {
		if f.value > 0 {
			*f.dst = f.value
		}
	}
	return out
}

// compilePressure turns the operator's percentage into the table's fraction.
func compilePressure(p config.ConntrackPressure) conntrack.Pressure {
	return conntrack.Pressure{High: float64(p.HighPercent) / 100, EmbryonicTimeout: p.EmbryonicTimeout}
}

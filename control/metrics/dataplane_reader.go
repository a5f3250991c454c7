package metrics

import (
	"fastlvs/dataplane"
)

// dataplaneReader reads a live dataplane. Workers and ports are fixed once
// dataplane.New returns, so they are captured at construction: Dataplane.Close
// clears its Ports field when Run ends, and a late scrape must not race that
// write. The table is loaded afresh on every scrape (one atomic load).
type dataplaneReader struct {
	workers      []*dataplane.Worker
	ports        []*dataplane.Port
	table        func() *dataplane.Table
	connCapacity uint64
}

func newDataplaneReader(dp *dataplane.Dataplane, connCapacity int) *dataplaneReader {
	return &dataplaneReader{
		workers:      append([]*dataplane.Worker(nil), dp.Workers...),
		ports:        append([]*dataplane.Port(nil), dp.Ports...),
		table:        dp.Table,
		connCapacity: uint64(max(connCapacity, 0)),
	}
}

func (r *dataplaneReader) Workers() []WorkerSample {
	out := make([]WorkerSample, len(r.workers))
	for i, w := range r.workers {
		s := w.Stats
		o := &out[i]
		o.ID, o.CPU = w.ID, w.CPU
		for c := range s.Counts {
			o.Counts[c] = s.Counts[c].Load()
		}
		o.Conns = s.Conns.Load()
		o.UnderPressure = s.UnderPressure.Load() != 0
		o.ConnCapacity = r.connCapacity
		for d := range s.Drops {
			o.Drops[d] = s.Drops[d].Load()
		}
		for b := range s.Batches {
			o.Batches[b] = s.Batches[b].Load()
		}
		// A worker counts every frame it receives from a socket in RxPackets
		// and every receive call in Batches (handed-over frames in neither),
		// so RxPackets is exactly the sum of the batch sizes.
		o.BatchFrames = o.Counts[dataplane.CountRxPackets]
	}
	return out
}

func (r *dataplaneReader) Sockets() []SocketSample {
	var out []SocketSample
	for _, p := range r.ports {
		for q, sock := range p.Sockets {
			s := SocketSample{Iface: p.Name, Queue: q, Worker: q}
			if q < len(r.workers) { // socket q is worker q's (dataplane.New)
				s.CPU = r.workers[q].CPU
			}
			s.Stats, s.Err = sock.Stats()
			out = append(out, s)
		}
	}
	return out
}

func (r *dataplaneReader) Steering() []SteeringSample {
	out := make([]SteeringSample, 0, len(r.ports))
	for _, p := range r.ports {
		s := SteeringSample{Iface: p.Name}
		s.Stats, s.Err = p.Program.Stats()
		out = append(out, s)
	}
	return out
}

func (r *dataplaneReader) Services() []ServiceSample {
	return servicesOf(r.table())
}

// servicesOf lists a table's services with their counters summed over
// workers, as ipvsadm --stats does.
func servicesOf(t *dataplane.Table) []ServiceSample {
	if t == nil {
		return nil
	}
	services := t.Services()
	out := make([]ServiceSample, len(services))
	for i := range services {
		svc := &services[i]
		o := &out[i]
		o.Name, o.VIP, o.Port, o.Proto = svc.Spec.Name, svc.Spec.VIP, svc.Spec.Port, svc.Spec.Proto
		if svc.State != nil {
			o.Traffic = dataplane.Sum(svc.State.Stats)
		}
		for _, real := range svc.Reals() {
			rs := RealSample{Addr: real.Spec.Addr, Port: real.Spec.Port, Weight: real.Spec.Weight}
			if st := real.State; st != nil {
				rs.Traffic = dataplane.Sum(st.Stats)
				if st.Load != nil {
					rs.Active, rs.Inactive = st.Load.Active(), st.Load.Inactive()
				}
			}
			o.Reals = append(o.Reals, rs)
		}
		o.Overflow = overflowOf(svc)
	}
	return out
}

// overflowOf samples a service's overflow, nil without one.
func overflowOf(svc *dataplane.Service) *OverflowSample {
	target := svc.OverflowReal()
	if target == nil || svc.State == nil {
		return nil
	}
	st := &svc.State.Overflow
	return &OverflowSample{To: target.Spec.Addr, Shedding: st.Shedding(), LoadRatio: st.LoadRatio(),
		Traffic: dataplane.Sum(target.State.Stats), Active: target.State.Load.Active()}
}

package monitor

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"fastlvs/control/api"
)

// State is what the page shows, sent once a second.
type State struct {
	At       int64          `json:"at"` // unix milliseconds
	Cores    []CoreState    `json:"cores"`
	Drops    []DropRate     `json:"drops"`
	Services []ServiceState `json:"services"`
	Reloads  reloadOutcome  `json:"reloads"`
	Sync     *SyncState     `json:"sync,omitempty"`
	Error    string         `json:"error,omitempty"` // the listing failed
}

// SyncState is the connection sync with the peer director: where it
// listens and sends, and its counters since start.
type SyncState struct {
	Listen       string `json:"listen,omitempty"`
	Peer         string `json:"peer,omitempty"`
	Sent         uint64 `json:"sent"`
	SendErrors   uint64 `json:"send_errors"`
	BadDatagrams uint64 `json:"bad_datagrams"`
	InboxFull    uint64 `json:"inbox_full"`
}

// CoreState is one worker, pinned to CPU (-1 when unpinned), with its
// recent per-second rates.
type CoreState struct {
	Worker      int          `json:"worker"`
	CPU         int          `json:"cpu"`
	Connections uint64       `json:"connections"`
	Samples     []CoreSample `json:"samples"`
}

type ServiceState struct {
	Key         api.ServiceKey `json:"key"`
	KeyText     string         `json:"key_text"` // as ipvsadm names it: TCP 198.18.0.10:80
	Name        string         `json:"name"`     // the configuration's name
	Scheduler   string         `json:"scheduler"`
	Forward     string         `json:"forward"`
	Connections uint64         `json:"connections"` // total since start
	Rates       api.Rates      `json:"rates"`
	Reals       []RealState    `json:"reals"`
}

type RealState struct {
	Address       netip.AddrPort `json:"address"`
	Weight        int32          `json:"weight"`
	ActiveConns   int64          `json:"active_conns"`
	InactiveConns int64          `json:"inactive_conns"`
	Connections   uint64         `json:"connections"`
	Rates         api.Rates      `json:"rates"`
	Health        HealthState    `json:"health"`
}

// HealthState is a real server's last check; State is "up", "down" or
// "unchecked".
type HealthState struct {
	State     string  `json:"state"`
	LastError string  `json:"last_error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
	Since     int64   `json:"since,omitempty"` // unix milliseconds of the last transition
	Checks    uint64  `json:"checks"`
	Failures  uint64  `json:"failures"`
}

// snapshot builds the state; latestOnly leaves out the cores' history.
func (m *Monitor) snapshot(latestOnly bool) State {
	st := State{At: m.now().UnixMilli(), Cores: m.sampler.cores(latestOnly)}
	st.Drops, st.Reloads = m.sampler.dropsAndReloads()
	if m.sources.Sync != nil {
		st.Sync = m.sources.Sync()
	}
	services, err := m.sources.Backend.ListServices()
	if err != nil {
		st.Error = err.Error()
	}
	for _, s := range services {
		svc := ServiceState{Key: s.Key, KeyText: s.Key.String(), Scheduler: s.Scheduler, Forward: s.Forward, Connections: s.Stats.Conns, Rates: s.Rates}
		if m.sources.ServiceName != nil {
			svc.Name = m.sources.ServiceName(s.Key)
		}
		for _, rs := range s.RealServers {
			addr := rs.AddrPort()
			svc.Reals = append(svc.Reals, RealState{
				Address: addr, Weight: rs.Weight, ActiveConns: rs.ActiveConns, InactiveConns: rs.InactiveConns,
				Connections: rs.Stats.Conns, Rates: rs.Rates, Health: m.healthOf(s.Key, addr),
			})
		}
		st.Services = append(st.Services, svc)
	}
	return st
}

func (m *Monitor) healthOf(service api.ServiceKey, real netip.AddrPort) HealthState {
	if m.sources.Health == nil {
		return HealthState{State: "unchecked"}
	}
	status, ok := m.sources.Health(service, real)
	if !ok {
		return HealthState{State: "unchecked"}
	}
	h := HealthState{State: "down", LastError: status.LastError, LatencyMS: float64(status.LastLatency) / float64(time.Millisecond),
		Checks: status.Checks, Failures: status.Failures}
	if status.Up {
		h.State = "up"
	}
	if !status.Since.IsZero() {
		h.Since = status.Since.UnixMilli()
	}
	return h
}

func (m *Monitor) state(w http.ResponseWriter, _ *http.Request, _ string, _ *session) {
	writeJSON(w, http.StatusOK, m.snapshot(false))
}

// events streams the state: the first event with each core's history, then
// one event per sample with the latest point only.
func (m *Monitor) events(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	ctx := r.Context()
	latestOnly := false
	for {
		next := m.sampler.next()
		id, live := m.sessions.get(r)
		if _, exists := m.users.role(s.user); live == nil || !exists {
			m.sessions.end(id)
			fmt.Fprint(w, "event: logout\ndata: {}\n\n") // the session ended or expired, or its user is gone
			flusher.Flush()
			return
		}
		body, err := json.Marshal(m.snapshot(latestOnly))
		if err != nil {
			slog.Error("monitor: encode state", "err", err)
			return
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", body); err != nil {
			return
		}
		flusher.Flush()
		latestOnly = true
		select {
		case <-ctx.Done():
			return
		case <-next:
		}
	}
}

package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"

	"fastlvs/control/api"
)

// Change is the body of POST /api/real-server.
type Change struct {
	Service api.ServiceKey `json:"service"`
	Real    netip.AddrPort `json:"real"`
	// Action is weight (set Weight), quiesce (weight 0, remembering the
	// weight), restore (back to the remembered weight, 1 if none) or drain
	// (remove the real server from the service: its connections go on
	// until the service's drain_timeout, as with a file reload that removes
	// it). Like every API change, these last until the next file reload.
	Action string `json:"action"`
	Weight int32  `json:"weight"`
}

const (
	actionWeight  = "weight"
	actionQuiesce = "quiesce"
	actionRestore = "restore"
	actionDrain   = "drain"
)

// restoreWeights remembers the weight a quiesced real server had.
type restoreWeights struct {
	mu      sync.Mutex
	weights map[string]int32
}

func newRestoreWeights() *restoreWeights { return &restoreWeights{weights: map[string]int32{}} }

func restoreKey(c Change) string { return c.Service.String() + "/" + c.Real.String() }

func (r *restoreWeights) remember(c Change, weight int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if weight > 0 {
		r.weights[restoreKey(c)] = weight
	}
}

func (r *restoreWeights) take(c Change) int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.weights[restoreKey(c)]
	delete(r.weights, restoreKey(c))
	if !ok {
		return 1
	}
	return w
}

// changeRealServer applies an admin's change through the API's backend,
// which validates and applies it as one edit of the running configuration.
func (m *Monitor) changeRealServer(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	var c Change
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	c.Service.Address, c.Real = c.Service.Address.Unmap(), netip.AddrPortFrom(c.Real.Addr().Unmap(), c.Real.Port())
	weight, err := m.apply(c)
	log := slog.With("user", s.user, "action", c.Action, "service", c.Service.String(), "real_server", c.Real.String())
	if err != nil {
		log.Warn("monitor change refused", "err", err)
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	if c.Action == actionDrain {
		log.Info("monitor change")
	} else {
		log.Info("monitor change", "weight", weight)
	}
	writeJSON(w, http.StatusOK, map[string]any{"weight": weight})
}

// apply runs one change and returns the weight it set.
func (m *Monitor) apply(c Change) (int32, error) {
	backend := m.sources.Backend
	if c.Action == actionDrain {
		return 0, backend.DeleteRealServer(c.Service, c.Real)
	}
	current, err := m.realServer(c.Service, c.Real)
	if err != nil {
		return 0, err
	}
	next := current
	switch c.Action {
	case actionWeight:
		if c.Weight < 0 {
			return 0, &api.FieldError{Field: "weight", Message: fmt.Sprintf("must not be negative (got %d)", c.Weight)}
		}
		next.Weight = c.Weight
	case actionQuiesce:
		next.Weight = 0
	case actionRestore:
		if current.Weight > 0 {
			return current.Weight, nil // not quiesced: nothing to restore
		}
		next.Weight = m.restore.take(c)
	default:
		return 0, &api.FieldError{Field: "action", Message: fmt.Sprintf("unknown action %q (want weight, quiesce, restore or drain)", c.Action)}
	}
	// Only the weight changes: forwarding and thresholds are sent as they are.
	next.Forward = ""
	if err := backend.EditRealServer(c.Service, next); err != nil {
		return 0, err
	}
	if next.Weight == 0 {
		m.restore.remember(c, current.Weight)
	}
	return next.Weight, nil
}

// realServer is the real server as the backend lists it now.
func (m *Monitor) realServer(service api.ServiceKey, real netip.AddrPort) (api.RealServer, error) {
	services, err := m.sources.Backend.ListServices()
	if err != nil {
		return api.RealServer{}, err
	}
	i := slices.IndexFunc(services, func(s api.Service) bool { return s.Key == service })
	if i < 0 {
		return api.RealServer{}, api.ErrServiceNotFound(service)
	}
	for _, rs := range services[i].RealServers {
		if rs.AddrPort() == real {
			return rs, nil
		}
	}
	return api.RealServer{}, api.ErrRealServerNotFound(service, real)
}

// statusOf maps a backend error as the API does: 404, 409 or 400 for a
// refusal naming a field, 500 otherwise.
func statusOf(err error) int {
	var fe *api.FieldError
	switch {
	case !errors.As(err, &fe):
		return http.StatusInternalServerError
	case fe.NotFound:
		return http.StatusNotFound
	case fe.Exists:
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

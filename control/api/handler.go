package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// maxBodyBytes bounds a request body; a full restore of thousands of real
// servers stays well below it.
const maxBodyBytes = 8 << 20

// Route patterns (net/http pattern routing). A service is named in a path as
// /v1/services/{proto}/{addr}/{port}, for example /v1/services/tcp/198.18.0.10/80
// or /v1/services/udp/2001:2::10/53.
const servicePath = "/v1/services/{proto}/{addr}/{port}"

type handler struct {
	backend Backend
}

// NewHandler serves the /v1 API on top of b. With a non-empty token every
// request must carry "Authorization: Bearer <token>".
func NewHandler(b Backend, token string) http.Handler {
	h := &handler{backend: b}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/services", h.listServices)
	mux.HandleFunc("POST /v1/services", h.addService)
	mux.HandleFunc("GET "+servicePath, h.getService)
	mux.HandleFunc("PUT "+servicePath, h.editService)
	mux.HandleFunc("DELETE "+servicePath, h.deleteService)
	mux.HandleFunc("POST "+servicePath+"/reals", h.addRealServer)
	mux.HandleFunc("PUT "+servicePath+"/reals", h.editRealServer)
	mux.HandleFunc("DELETE "+servicePath+"/reals/{raddr}/{rport}", h.deleteRealServer)
	mux.HandleFunc("POST "+servicePath+"/laddrs", h.addLocalAddress)
	mux.HandleFunc("DELETE "+servicePath+"/laddrs", h.deleteLocalAddress)
	mux.HandleFunc("POST /v1/clear", h.clear)
	mux.HandleFunc("POST /v1/zero", h.zero)
	mux.HandleFunc("GET /v1/timeouts", h.getTimeouts)
	mux.HandleFunc("PUT /v1/timeouts", h.setTimeouts)
	mux.HandleFunc("GET /v1/connections", h.connections)
	mux.HandleFunc("GET /v1/bgp", h.bgp)
	mux.HandleFunc("POST /v1/drain", h.drain)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, Error{Message: "no such endpoint " + r.Method + " " + r.URL.Path})
	})
	if token == "" {
		return mux
	}
	return requireToken(mux, token)
}

func requireToken(next http.Handler, token string) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			writeError(w, http.StatusUnauthorized, Error{Field: "Authorization", Message: "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e Error) {
	writeJSON(w, status, e)
}

// fail answers with the status a backend or validation error maps to.
func fail(w http.ResponseWriter, err error) {
	var fe *FieldError
	if !errors.As(err, &fe) {
		writeError(w, http.StatusInternalServerError, Error{Message: err.Error()})
		return
	}
	status := http.StatusBadRequest
	switch {
	case fe.NotFound:
		status = http.StatusNotFound
	case fe.Exists:
		status = http.StatusConflict
	}
	writeError(w, status, Error{Field: fe.Field, Message: fe.Message})
}

func done(w http.ResponseWriter, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return nil, invalid("", "read body: %v", err)
	}
	return body, nil
}

func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decodeStrict(body, dst)
}

// pathKey reads the service key from the request path.
func pathKey(r *http.Request) (ServiceKey, error) {
	var k ServiceKey
	k.Protocol = strings.ToLower(r.PathValue("proto"))
	addr, err := netip.ParseAddr(r.PathValue("addr"))
	if err != nil {
		return k, invalid("key.address", "invalid address %q in path", r.PathValue("addr"))
	}
	k.Address = addr.Unmap()
	port, err := strconv.ParseUint(r.PathValue("port"), 10, 16)
	if err != nil {
		return k, invalid("key.port", "invalid port %q in path", r.PathValue("port"))
	}
	k.Port = uint16(port)
	return k, ValidateKey(k, "key")
}

func (h *handler) listServices(w http.ResponseWriter, r *http.Request) {
	services, err := h.backend.ListServices()
	if err != nil {
		fail(w, err)
		return
	}
	if services == nil {
		services = []Service{}
	}
	writeJSON(w, http.StatusOK, services)
}

func (h *handler) getService(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r)
	if err != nil {
		fail(w, err)
		return
	}
	services, err := h.backend.ListServices()
	if err != nil {
		fail(w, err)
		return
	}
	for _, s := range services {
		if s.Key == key {
			writeJSON(w, http.StatusOK, s)
			return
		}
	}
	fail(w, ErrServiceNotFound(key))
}

func (h *handler) addService(w http.ResponseWriter, r *http.Request) {
	var s Service
	if err := decodeBody(w, r, &s); err != nil {
		fail(w, err)
		return
	}
	if err := ValidateService(&s); err != nil {
		fail(w, err)
		return
	}
	if err := h.backend.AddService(s); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (h *handler) editService(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r)
	if err != nil {
		fail(w, err)
		return
	}
	var s Service
	if err := decodeBody(w, r, &s); err != nil {
		fail(w, err)
		return
	}
	if s.Key == (ServiceKey{}) {
		s.Key = key
	} else if s.Key != key {
		fail(w, invalid("key", "the body names %s but the path names %s", s.Key, key))
		return
	}
	if err := ValidateService(&s); err != nil {
		fail(w, err)
		return
	}
	done(w, h.backend.EditService(s))
}

func (h *handler) deleteService(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r)
	if err != nil {
		fail(w, err)
		return
	}
	done(w, h.backend.DeleteService(key))
}

func (h *handler) realServerBody(w http.ResponseWriter, r *http.Request) (ServiceKey, RealServer, error) {
	var rs RealServer
	key, err := pathKey(r)
	if err != nil {
		return key, rs, err
	}
	if err := decodeBody(w, r, &rs); err != nil {
		return key, rs, err
	}
	return key, rs, ValidateRealServer(&rs, FieldRealServer)
}

func (h *handler) addRealServer(w http.ResponseWriter, r *http.Request) {
	key, rs, err := h.realServerBody(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	if err := h.backend.AddRealServer(key, rs); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (h *handler) editRealServer(w http.ResponseWriter, r *http.Request) {
	key, rs, err := h.realServerBody(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	done(w, h.backend.EditRealServer(key, rs))
}

func (h *handler) deleteRealServer(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r)
	if err != nil {
		fail(w, err)
		return
	}
	addr, err := netip.ParseAddr(r.PathValue("raddr"))
	if err != nil {
		fail(w, invalid(FieldRealServer+".address", "invalid address %q in path", r.PathValue("raddr")))
		return
	}
	port, err := strconv.ParseUint(r.PathValue("rport"), 10, 16)
	if err != nil {
		fail(w, invalid(FieldRealServer+".port", "invalid port %q in path", r.PathValue("rport")))
		return
	}
	done(w, h.backend.DeleteRealServer(key, netip.AddrPortFrom(addr.Unmap(), uint16(port))))
}

func (h *handler) localAddressBody(w http.ResponseWriter, r *http.Request) (ServiceKey, netip.Addr, error) {
	var la LocalAddress
	key, err := pathKey(r)
	if err != nil {
		return key, la.Address, err
	}
	if err := decodeBody(w, r, &la); err != nil {
		return key, la.Address, err
	}
	if !la.Address.IsValid() || la.Address.IsUnspecified() {
		return key, la.Address, invalid("address", "must be a unicast IPv4 or IPv6 address")
	}
	return key, la.Address.Unmap(), nil
}

func (h *handler) addLocalAddress(w http.ResponseWriter, r *http.Request) {
	key, addr, err := h.localAddressBody(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	if err := h.backend.AddLocalAddress(key, addr); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (h *handler) deleteLocalAddress(w http.ResponseWriter, r *http.Request) {
	key, addr, err := h.localAddressBody(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	done(w, h.backend.DeleteLocalAddress(key, addr))
}

func (h *handler) clear(w http.ResponseWriter, r *http.Request) {
	done(w, h.backend.Clear())
}

// zero takes an optional ServiceKey body; without one it zeroes everything.
func (h *handler) zero(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		done(w, h.backend.Zero(nil))
		return
	}
	var key ServiceKey
	if err := decodeStrict(body, &key); err != nil {
		fail(w, err)
		return
	}
	if err := ValidateKey(key, "key"); err != nil {
		fail(w, err)
		return
	}
	key.Address = key.Address.Unmap()
	done(w, h.backend.Zero(&key))
}

func (h *handler) getTimeouts(w http.ResponseWriter, r *http.Request) {
	t, err := h.backend.Timeouts()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (h *handler) setTimeouts(w http.ResponseWriter, r *http.Request) {
	var t Timeouts
	if err := decodeBody(w, r, &t); err != nil {
		fail(w, err)
		return
	}
	if err := ValidateTimeouts(t); err != nil {
		fail(w, err)
		return
	}
	done(w, h.backend.SetTimeouts(t))
}

func (h *handler) connections(w http.ResponseWriter, r *http.Request) {
	conns, err := h.backend.Connections()
	if err != nil {
		fail(w, err)
		return
	}
	if conns == nil {
		conns = []Connection{}
	}
	writeJSON(w, http.StatusOK, conns)
}

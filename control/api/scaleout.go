package api

import (
	"net/http"
	"net/netip"
)

// BGPStatus is what GET /v1/bgp answers: the embedded speaker's sessions and
// the prefixes it announces.
type BGPStatus struct {
	// Enabled is false when the configuration has no bgp section; the rest
	// is then empty.
	Enabled  bool         `json:"enabled"`
	ASN      uint32       `json:"asn,omitempty"`
	RouterID string       `json:"router_id,omitempty"`
	Draining bool         `json:"draining"`
	Sessions []BGPSession `json:"sessions"`
	// Announced are the prefixes offered to every established peer.
	Announced []netip.Prefix `json:"announced"`
}

// BGPSession is one configured peer.
type BGPSession struct {
	Peer  netip.Addr `json:"peer"`
	ASN   uint32     `json:"asn"`
	State string     `json:"state"` // idle, connect, active, opensent, openconfirm, established
	Up    bool       `json:"up"`
}

// ScaleOut is implemented by backends that announce VIPs and can drain.
// A backend without it answers 404 on these endpoints.
type ScaleOut interface {
	BGP() (BGPStatus, error)
	// Drain withdraws every VIP and stops the daemon after its drain grace;
	// it returns once the withdrawal is handed to the peers.
	Drain() error
}

func (h *handler) bgp(w http.ResponseWriter, r *http.Request) {
	scaleOut, ok := h.backend.(ScaleOut)
	if !ok {
		writeError(w, http.StatusNotFound, Error{Message: "this daemon has no BGP speaker"})
		return
	}
	status, err := scaleOut.BGP()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, status)
}

func (h *handler) drain(w http.ResponseWriter, r *http.Request) {
	scaleOut, ok := h.backend.(ScaleOut)
	if !ok {
		writeError(w, http.StatusNotFound, Error{Message: "this daemon cannot drain"})
		return
	}
	done(w, scaleOut.Drain())
}

// BGP reads the BGP speaker's sessions and announced prefixes.
func (c *Client) BGP() (BGPStatus, error) {
	var status BGPStatus
	return status, c.do(http.MethodGet, "/v1/bgp", nil, &status)
}

// Drain asks the daemon to withdraw its VIPs and stop after its drain grace.
func (c *Client) Drain() error {
	return c.do(http.MethodPost, "/v1/drain", nil, nil)
}

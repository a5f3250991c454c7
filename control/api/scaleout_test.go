package api_test

import (
	"net/http"
	"net/netip"
	"testing"

	"fastlvs/control"
	"fastlvs/control/api"
	"fastlvs/control/api/apitest"
)

// scaleOutBackend is the daemon's offline backend with a BGP speaker and a
// drain.
type scaleOutBackend struct {
	*control.OfflineBackend
	status api.BGPStatus
	drains int
}

func (b *scaleOutBackend) BGP() (api.BGPStatus, error) { return b.status, nil }
func (b *scaleOutBackend) Drain() error                { b.drains++; return nil }

func TestScaleOutEndpoints(t *testing.T) {
	backend := &scaleOutBackend{OfflineBackend: newBackend(t), status: api.BGPStatus{
		Enabled: true, ASN: 64513, RouterID: "198.18.2.2",
		Sessions:  []api.BGPSession{{Peer: netip.MustParseAddr("198.18.2.1"), ASN: 64512, State: "established", Up: true}},
		Announced: []netip.Prefix{netip.MustParsePrefix("198.18.0.10/32")},
	}}
	client := api.NewClient(apitest.ServeUnix(t, api.NewHandler(backend, "")), "")
	status, err := client.BGP()
	if err != nil {
		t.Fatal(err)
	}
	if !status.Enabled || status.ASN != 64513 || len(status.Sessions) != 1 || !status.Sessions[0].Up ||
		len(status.Announced) != 1 || status.Announced[0] != backend.status.Announced[0] {
		t.Errorf("GET /v1/bgp: %+v", status)
	}
	if err := client.Drain(); err != nil || backend.drains != 1 {
		t.Errorf("POST /v1/drain: %v, %d drains", err, backend.drains)
	}
}

func TestScaleOutEndpointsAbsentWithoutSpeaker(t *testing.T) {
	h := api.NewHandler(newBackend(t), "")
	for _, r := range []struct{ method, path string }{{"GET", "/v1/bgp"}, {"POST", "/v1/drain"}} {
		if code, body := call(t, h, r.method, r.path, ""); code != http.StatusNotFound {
			t.Errorf("%s %s on a backend without a speaker: %d %s", r.method, r.path, code, body)
		}
	}
}

package bgp

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// statusTimeout bounds a scrape's wait for the speaker.
const statusTimeout = time.Second

var (
	sessionUpDesc = prometheus.NewDesc("fastlvs_bgp_session_up",
		"1 while the BGP session with the peer is established, else 0.", []string{"peer"}, nil)
	announcedDesc = prometheus.NewDesc("fastlvs_bgp_announced_prefixes",
		"VIP prefixes the BGP speaker announces to its peers.", nil, nil)
)

// Collector exports a speaker's sessions and announced prefixes.
type Collector struct{ speaker *Speaker }

// NewCollector returns the Prometheus collector of s.
func NewCollector(s *Speaker) *Collector { return &Collector{speaker: s} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sessionUpDesc
	ch <- announcedDesc
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	status, err := c.speaker.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(sessionUpDesc, err)
		return
	}
	for _, s := range status.Sessions {
		up := 0.0
		if s.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(sessionUpDesc, prometheus.GaugeValue, up, s.Peer.String())
	}
	ch <- prometheus.MustNewConstMetric(announcedDesc, prometheus.GaugeValue, float64(len(status.Announced)))
}

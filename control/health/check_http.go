package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
)

// MaxBodyBytes bounds how much of a response body an HTTP check reads to
// match BodyRegex.
const MaxBodyBytes = 1 << 20

// httpCheck GETs a path over a fresh connection (HTTP_GET / SSL_GET) and
// checks the status range and, optionally, the body.
type httpCheck struct {
	url       string
	host      string
	statusMin int
	statusMax int
	body      *regexp.Regexp
	client    *http.Client
}

func newHTTPCheck(spec Spec, addr netip.AddrPort) check {
	dialer := &net.Dialer{LocalAddr: localAddr("tcp", spec.SourceAddr)}
	target := addr.String()
	transport := &http.Transport{
		// Always dial the real server, whatever name the URL carries.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", target)
		},
		// A pooled connection would hide a server that stopped accepting.
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig: &tls.Config{
			ServerName:         tlsServerName(spec),
			InsecureSkipVerify: !spec.VerifyTLS || spec.InsecureTLS,
		},
	}
	host := spec.Host
	if host == "" {
		host = target
	}
	c := &httpCheck{
		url:       spec.Type + "://" + target + spec.Path,
		host:      host,
		statusMin: spec.StatusMin,
		statusMax: spec.StatusMax,
		client: &http.Client{
			Transport: transport,
			// keepalived does not follow redirects; a 3xx is judged by the range.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if spec.BodyRegex != "" {
		c.body = regexp.MustCompile(spec.BodyRegex) // Validate compiled it already
	}
	return c
}

// tlsServerName is the SNI sent: SNI, else Host's name unless it is an IP.
func tlsServerName(spec Spec) string {
	if spec.SNI != "" {
		return spec.SNI
	}
	name := spec.Host
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return ""
	}
	return name
}

func (c *httpCheck) run(ctx context.Context) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return failure(fmt.Errorf("http request: %w", err))
	}
	req.Host = c.host
	req.Header.Set("User-Agent", "fastlvs-health")
	resp, err := c.client.Do(req)
	if err != nil {
		return failure(fmt.Errorf("http get: %w", errors.Unwrap(err)))
	}
	defer resp.Body.Close()
	if resp.StatusCode < c.statusMin || resp.StatusCode > c.statusMax {
		return failure(fmt.Errorf("http status %d not in %d-%d", resp.StatusCode, c.statusMin, c.statusMax))
	}
	if c.body == nil {
		return success()
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
	if err != nil {
		return failure(fmt.Errorf("http read body: %w", err))
	}
	if !c.body.Match(body) {
		return failure(fmt.Errorf("http body does not match %q", c.body.String()))
	}
	return success()
}

package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ResolveAddress picks the API address the way fastlvsadm does: the flag if
// set, else $FASTLVS_API, else DefaultAddress.
func ResolveAddress(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("FASTLVS_API"); env != "" {
		return env
	}
	return DefaultAddress
}

// StatusError is a non-2xx answer from the API.
type StatusError struct {
	Status int
	Body   Error
}

func (e *StatusError) Error() string {
	if e.Body.Field == "" {
		return e.Body.Message
	}
	return e.Body.Field + ": " + e.Body.Message
}

// Client talks to the API over a unix socket or TCP.
type Client struct {
	addr  string
	base  string
	token string
	http  *http.Client
	// addrErr is set when the address could not be parsed; every call returns it.
	addrErr error
}

// NewClient returns a client for addr ("unix:///path", "tcp://host:port" or
// "tls://host:port").
func NewClient(addr, token string) *Client { return NewClientTLS(addr, token, nil) }

// NewClientTLS is NewClient with the TLS settings of a tls:// address (CA,
// verification); nil means the system's roots. Other addresses ignore it.
func NewClientTLS(addr, token string, tlsConfig *tls.Config) *Client {
	c := &Client{addr: addr, token: token}
	network, address, err := ParseAddress(addr)
	if err != nil {
		c.addrErr = err
		return c
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, address)
		},
		MaxIdleConns: 2,
	}
	c.http = &http.Client{Transport: transport, Timeout: 60 * time.Second}
	c.base = "http://fastlvs"
	switch {
	case strings.HasPrefix(addr, "tls://"):
		if tlsConfig == nil {
			tlsConfig = &tls.Config{}
		}
		transport.TLSClientConfig = tlsConfig
		c.base = "https://" + address
	case network == "tcp":
		c.base = "http://" + address
	}
	return c
}

// ServicePath is the URL path naming a service.
func ServicePath(k ServiceKey) string {
	return "/v1/services/" + url.PathEscape(k.Protocol) + "/" + url.PathEscape(k.Address.String()) + "/" + strconv.Itoa(int(k.Port))
}

func (c *Client) do(method, path string, in, out any) error {
	if c.addrErr != nil {
		return c.addrErr
	}
	var body io.Reader
	if in != nil {
		encoded, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(encoded)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return fmt.Errorf("reach fastlvs api at %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Status: resp.StatusCode}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(raw, &se.Body) != nil || se.Body.Message == "" {
			se.Body.Message = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return se
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Services lists every service with its real servers.
func (c *Client) Services() ([]Service, error) {
	var services []Service
	return services, c.do(http.MethodGet, "/v1/services", nil, &services)
}

// Service returns one service.
func (c *Client) Service(k ServiceKey) (Service, error) {
	var s Service
	return s, c.do(http.MethodGet, ServicePath(k), nil, &s)
}

// AddService adds a service (with any real servers it lists).
func (c *Client) AddService(s Service) error {
	return c.do(http.MethodPost, "/v1/services", s, nil)
}

// EditService replaces a service's settings.
func (c *Client) EditService(s Service) error {
	return c.do(http.MethodPut, ServicePath(s.Key), s, nil)
}

// DeleteService removes a service.
func (c *Client) DeleteService(k ServiceKey) error {
	return c.do(http.MethodDelete, ServicePath(k), nil, nil)
}

// Clear removes every service.
func (c *Client) Clear() error {
	return c.do(http.MethodPost, "/v1/clear", nil, nil)
}

// AddRealServer adds a real server to a service.
func (c *Client) AddRealServer(k ServiceKey, rs RealServer) error {
	return c.do(http.MethodPost, ServicePath(k)+"/reals", rs, nil)
}

// EditRealServer changes a real server of a service.
func (c *Client) EditRealServer(k ServiceKey, rs RealServer) error {
	return c.do(http.MethodPut, ServicePath(k)+"/reals", rs, nil)
}

// DeleteRealServer removes a real server from a service.
func (c *Client) DeleteRealServer(k ServiceKey, rs netip.AddrPort) error {
	path := ServicePath(k) + "/reals/" + url.PathEscape(rs.Addr().String()) + "/" + strconv.Itoa(int(rs.Port()))
	return c.do(http.MethodDelete, path, nil, nil)
}

// Zero resets the counters of one service, or of all with a nil key.
func (c *Client) Zero(k *ServiceKey) error {
	if k == nil {
		return c.do(http.MethodPost, "/v1/zero", nil, nil)
	}
	return c.do(http.MethodPost, "/v1/zero", k, nil)
}

// Timeouts reads the connection timeouts.
func (c *Client) Timeouts() (Timeouts, error) {
	var t Timeouts
	return t, c.do(http.MethodGet, "/v1/timeouts", nil, &t)
}

// SetTimeouts sets the connection timeouts (0 leaves a value unchanged).
func (c *Client) SetTimeouts(t Timeouts) error {
	return c.do(http.MethodPut, "/v1/timeouts", t, nil)
}

// Connections lists the connection table.
func (c *Client) Connections() ([]Connection, error) {
	var conns []Connection
	return conns, c.do(http.MethodGet, "/v1/connections", nil, &conns)
}

// AddLocalAddress adds a FULLNAT local address to a service.
func (c *Client) AddLocalAddress(k ServiceKey, a netip.Addr) error {
	return c.do(http.MethodPost, ServicePath(k)+"/laddrs", LocalAddress{Address: a}, nil)
}

// DeleteLocalAddress removes a FULLNAT local address from a service.
func (c *Client) DeleteLocalAddress(k ServiceKey, a netip.Addr) error {
	return c.do(http.MethodDelete, ServicePath(k)+"/laddrs", LocalAddress{Address: a}, nil)
}

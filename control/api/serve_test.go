package api_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"fastlvs/control/api"
	"fastlvs/control/api/apitest"
)

// TestServeTLS: a TCP API with a certificate answers a tls:// client that
// trusts it (or skips verification), and refuses one that does not trust
// it and a plain-HTTP one.
func TestServeTLS(t *testing.T) {
	cert, caPEM := apitest.SelfSigned(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	token := strings.Repeat("t", 32)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostport := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- api.Serve(ctx, "tcp://"+hostport, token, &tls.Config{Certificates: []tls.Certificate{cert}}, api.NewHandler(newBackend(t), token))
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	trusted := api.NewClientTLS("tls://"+hostport, token, &tls.Config{RootCAs: pool})
	var err2 error
	for range 50 { // until the server listens
		if _, err2 = trusted.Services(); err2 == nil || !strings.Contains(err2.Error(), "refused") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err2 != nil {
		t.Fatalf("trusting client: %v", err2)
	}
	if _, err := api.NewClientTLS("tls://"+hostport, token, &tls.Config{InsecureSkipVerify: true}).Services(); err != nil {
		t.Fatalf("client skipping verification: %v", err)
	}
	if _, err := api.NewClient("tls://"+hostport, token).Services(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client not trusting the certificate: %v", err)
	}
	if _, err := api.NewClient("tcp://"+hostport, token).Services(); err == nil {
		t.Fatal("plain HTTP to the TLS api succeeded")
	}
}

func TestServerHasEveryTimeout(t *testing.T) {
	s := api.NewServer(nil)
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Fatalf("timeouts: header %v read %v write %v idle %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
}

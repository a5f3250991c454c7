package monitor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Names of the generated certificate and key, kept beside the users file so
// that the fingerprint an operator has checked once stays the same across
// restarts.
const (
	generatedCertName = "monitor-cert.pem"
	generatedKeyName  = "monitor-key.pem"
)

// certValidity is how long a generated certificate lasts.
const certValidity = 2 * 365 * 24 * time.Hour

// loadCertificate returns the configured certificate, or the one generated
// beside the users file, generating it on first start. A generated pair that
// cannot be written is kept in memory (a new fingerprint each start).
func loadCertificate(cfg Config) (tls.Certificate, error) {
	certFile, keyFile := cfg.CertFile, cfg.KeyFile
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return cert, fmt.Errorf("monitor.cert_file: %w", err)
		}
		logFingerprint(cert, certFile)
		return cert, nil
	}
	dir := filepath.Dir(cfg.UsersFile)
	certFile, keyFile = filepath.Join(dir, generatedCertName), filepath.Join(dir, generatedKeyName)
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		logFingerprint(cert, certFile)
		return cert, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return cert, fmt.Errorf("monitor: generated certificate %s: %w (remove both files to make a new one)", certFile, err)
	}
	certPEM, keyPEM, err := selfSigned(cfg.Listen, time.Now())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("monitor: generate certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return cert, err
	}
	if err := writeNew(keyFile, keyPEM, 0o600); err != nil {
		slog.Warn("monitor: self-signed certificate kept in memory only", "err", err)
		logFingerprint(cert, "memory")
		return cert, nil
	}
	if err := writeNew(certFile, certPEM, 0o644); err != nil {
		os.Remove(keyFile)
		slog.Warn("monitor: self-signed certificate kept in memory only", "err", err)
		logFingerprint(cert, "memory")
		return cert, nil
	}
	logFingerprint(cert, certFile+" (generated)")
	return cert, nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Fingerprint is the SHA-256 of a certificate's DER form, as browsers show it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func logFingerprint(cert tls.Certificate, source string) {
	slog.Info("monitor certificate", "source", source, "sha256", Fingerprint(cert.Certificate[0]))
}

// selfSigned makes an ECDSA P-256 certificate for the listen host, localhost
// and the machine's host name.
func selfSigned(listen string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "fastlvs monitor"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if name, err := os.Hostname(); err == nil && name != "localhost" {
		template.DNSNames = append(template.DNSNames, name)
	}
	if host, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			template.IPAddresses = append(template.IPAddresses, ip)
		} else if ip == nil && host != "" && host != "localhost" {
			template.DNSNames = append(template.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The cluster's PKI lives in STATE/tls: the CA (ca.pem, ca.key), the
// server's certificate (server.pem, server.key); STATE/join-token holds
// the standing node join token. Keys and the token are 0600.
const (
	TLSDir         = "tls"
	CACertFile     = "ca.pem"
	caKeyFile      = "ca.key"
	serverCertFile = "server.pem"
	serverKeyFile  = "server.key"
	JoinTokenFile  = "join-token"
)

// nodeOrg marks the client certificates the CA issues to node daemons.
const nodeOrg = "gantry-node"

// Certificate lifetimes. A node's certificate is renewed by joining
// again with a join token; the server's by running gantry server init
// again (the CA is kept).
const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 2 * 365 * 24 * time.Hour
	nodeValidity   = 2 * 365 * 24 * time.Hour
)

// InitOptions configure Init.
type InitOptions struct {
	StateDir string
	// Hosts are extra names and IP addresses the server's certificate is
	// valid for, besides the host name, localhost, 127.0.0.1 and ::1.
	Hosts []string
}

// InitResult says what Init made or kept.
type InitResult struct {
	CAFile    string
	CreatedCA bool
	// ServerCert is the (re)issued server certificate; Hosts its names.
	ServerCert string
	Hosts      []string
	// JoinTokenFile holds JoinToken; CreatedJoinToken is false when an
	// existing one was kept.
	JoinTokenFile    string
	JoinToken        string
	CreatedJoinToken bool
}

// Init prepares a state directory for TLS: it creates the cluster CA
// (ECDSA P-256) unless one exists, issues the server's certificate for
// the host's names and opts.Hosts (replacing an older one), and creates
// the standing join token unless one exists.
func Init(opts InitOptions) (InitResult, error) {
	var res InitResult
	dir := filepath.Join(opts.StateDir, TLSDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("init: %w", err)
	}
	res.CAFile = filepath.Join(dir, CACertFile)
	ca, caKey, err := loadCA(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if ca, caKey, err = newCA(dir); err != nil {
			return res, err
		}
		res.CreatedCA = true
	case err != nil:
		return res, err
	}
	hostname, _ := os.Hostname()
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if hostname != "" {
		hosts = append([]string{hostname}, hosts...)
	}
	for _, h := range opts.Hosts {
		if h = strings.TrimSpace(h); h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	res.Hosts = hosts
	res.ServerCert = filepath.Join(dir, serverCertFile)
	if err := issueServerCert(dir, ca, caKey, hosts); err != nil {
		return res, err
	}
	res.JoinTokenFile = filepath.Join(opts.StateDir, JoinTokenFile)
	tok, err := readSecretFile(res.JoinTokenFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		tok = newSecret(joinPrefix)
		if err := writeFileExcl(res.JoinTokenFile, []byte(tok+"\n"), 0o600); err != nil {
			return res, err
		}
		res.CreatedJoinToken = true
	case err != nil:
		return res, err
	}
	res.JoinToken = tok
	return res, nil
}

func newSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n.Add(n, big.NewInt(1))
}

func newCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	hostname, _ := os.Hostname()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: "gantry cluster CA " + hostname, Organization: []string{"gantry"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA: %w", err)
	}
	// The key first: a CA certificate without its key would be useless.
	if err := writeKey(filepath.Join(dir, caKeyFile), key); err != nil {
		return nil, nil, err
	}
	if err := writeCert(filepath.Join(dir, CACertFile), der); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// loadCA reads the CA; an error wrapping os.ErrNotExist means there is
// none yet.
func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CACertFile), filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("cluster CA in %s: %w", dir, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("cluster CA in %s: key is %T, want ECDSA", dir, pair.PrivateKey)
	}
	return pair.Leaf, key, nil
}

func issueServerCert(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"gantry-server"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("issue server certificate: %w", err)
	}
	if err := writeKey(filepath.Join(dir, serverKeyFile), key); err != nil {
		return err
	}
	return writeCert(filepath.Join(dir, serverCertFile), der)
}

// signNodeCSR issues a node's client certificate for the CSR's key, with
// CN=name whatever the CSR asked for.
func signNodeCSR(ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, csrPEM []byte, now time.Time) ([]byte, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("csr: want a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{nodeOrg}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(nodeValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, csr.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("issue node certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// pki is what the TCP listener needs: the CA (to verify node
// certificates and sign new ones) and the server's certificate.
type pki struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	server tls.Certificate
}

func loadPKI(stateDir string) (*pki, error) {
	dir := filepath.Join(stateDir, TLSDir)
	ca, caKey, err := loadCA(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no cluster CA in %s: run gantry server init --state-dir %s first", dir, stateDir)
		}
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile))
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w (run gantry server init)", err)
	}
	return &pki{ca: ca, caKey: caKey, caPEM: caPEM, server: pair}, nil
}

// tlsConfig serves the server's certificate and verifies any client
// certificate against the cluster CA: a certificate that does not verify
// fails the handshake; none at all leaves the caller to a bearer token.
func (p *pki) tlsConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
	}
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func writeCert(path string, der []byte) error {
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFileAtomic replaces path with data, mode perm, through a
// temporary file and a rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeFileExcl(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// security is what New loads for authentication.
type security struct {
	pki      *pki
	adminGID *uint32
}

// loadSecurity resolves the admin group and loads the cluster PKI, which
// a TCP listener requires.
func loadSecurity(cfg Config) (security, error) {
	var sec security
	if cfg.AdminGroup != "" {
		g, err := user.LookupGroup(cfg.AdminGroup)
		if err != nil {
			return sec, fmt.Errorf("admin group: %w", err)
		}
		gid, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return sec, fmt.Errorf("admin group %s: gid %q: not a number", cfg.AdminGroup, g.Gid)
		}
		v := uint32(gid)
		sec.adminGID = &v
	}
	p, err := loadPKI(cfg.StateDir)
	switch {
	case err == nil:
		sec.pki = p
	case cfg.Listen != "":
		return sec, fmt.Errorf("--listen %s serves TLS only: %w", cfg.Listen, err)
	}
	return sec, nil
}

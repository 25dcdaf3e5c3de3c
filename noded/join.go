package noded

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
)

// A node daemon talking to an https server keeps its credentials in its
// state directory: its key (node.key, 0600), the certificate the server's
// CA issued for it (node.pem, 0600) and the cluster CA (ca.pem).
const (
	nodeKeyFile  = "node.key"
	nodeCertFile = "node.pem"
	nodeCAFile   = "ca.pem"
)

// renewBefore is how long before its expiry a certificate is replaced,
// when a join token is at hand.
const renewBefore = 30 * 24 * time.Hour

// nodeClient makes the daemon's client. For a socket (or plain http)
// it is the plain client. For https it presents the node's certificate,
// joining first (a CSR signed by the cluster CA, with the join token)
// when the node has none, has one for another name, or one near expiry.
func nodeClient(ctx context.Context, cfg Config) (*client.Client, error) {
	if !strings.HasPrefix(cfg.Server, "https://") {
		return client.New(cfg.Server, cfg.Token)
	}
	caFile := cfg.CAFile
	if caFile == "" {
		caFile = filepath.Join(cfg.StateDir, nodeCAFile)
		if _, err := os.Stat(caFile); err != nil {
			caFile = "" // the system's roots
		}
	}
	cert, err := loadNodeCert(cfg.StateDir)
	switch {
	case err == nil && cert.Leaf.Subject.CommonName != cfg.Name:
		if cfg.JoinToken == "" {
			return nil, fmt.Errorf("node %s: the certificate in %s is for node %s: give --join-token to join as %s", cfg.Name, cfg.StateDir, cert.Leaf.Subject.CommonName, cfg.Name)
		}
	case err == nil && time.Until(cert.Leaf.NotAfter) < renewBefore:
		if cfg.JoinToken == "" {
			if time.Now().After(cert.Leaf.NotAfter) {
				return nil, fmt.Errorf("node %s: its certificate expired %s: give --join-token to join again", cfg.Name, cert.Leaf.NotAfter.Format(time.RFC3339))
			}
			cfg.Logger.Warn("node certificate expires soon: give --join-token to renew it", "expires", cert.Leaf.NotAfter)
			return certClient(cfg.Server, caFile, cert)
		}
	case err == nil:
		return certClient(cfg.Server, caFile, cert)
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	case cfg.JoinToken == "":
		return nil, fmt.Errorf("node %s: no node certificate in %s: give --join-token (gantry token create --node on the server, or its STATE/join-token) to join", cfg.Name, cfg.StateDir)
	}
	if cert, err = join(ctx, cfg, caFile); err != nil {
		return nil, err
	}
	if cfg.CAFile != "" {
		caFile = filepath.Join(cfg.StateDir, nodeCAFile)
	}
	return certClient(cfg.Server, caFile, cert)
}

func certClient(server, caFile string, cert *tls.Certificate) (*client.Client, error) {
	return client.NewWithOptions(server, client.Options{CAFile: caFile, Certificate: cert, NoDiscovery: true})
}

func loadNodeCert(dir string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, nodeCertFile), filepath.Join(dir, nodeKeyFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("node certificate in %s: %w", dir, err)
	}
	return &cert, nil
}

// join obtains the node's certificate with the join token, retrying
// while the server cannot be reached, and stores it with its key (and a
// copy of the CA it was verified with).
func join(ctx context.Context, cfg Config, caFile string) (*tls.Certificate, error) {
	c, err := client.NewWithOptions(cfg.Server, client.Options{Token: cfg.JoinToken, CAFile: caFile, NoDiscovery: true})
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cfg.Name}}, key)
	if err != nil {
		return nil, fmt.Errorf("node %s: certificate request: %w", cfg.Name, err)
	}
	req := api.JoinRequest{Name: cfg.Name, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))}
	var resp api.JoinResponse
	backoff := 200 * time.Millisecond
	for {
		if resp, err = c.Join(ctx, req); err == nil {
			break
		}
		var ae *client.APIError
		if errors.As(err, &ae) {
			return nil, fmt.Errorf("node %s: join refused: %w", cfg.Name, err)
		}
		if strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:") {
			return nil, fmt.Errorf("node %s: join: %w", cfg.Name, err)
		}
		cfg.Logger.Warn("cannot join yet; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair([]byte(resp.Certificate), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node %s: the server's certificate: %w", cfg.Name, err)
	}
	if err := writePrivate(filepath.Join(cfg.StateDir, nodeKeyFile), keyPEM); err != nil {
		return nil, err
	}
	if err := writePrivate(filepath.Join(cfg.StateDir, nodeCertFile), []byte(resp.Certificate)); err != nil {
		return nil, err
	}
	if cfg.CAFile != "" {
		ca, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		if err := writePrivate(filepath.Join(cfg.StateDir, nodeCAFile), ca); err != nil {
			return nil, err
		}
	}
	cfg.Logger.Info("joined the cluster: node certificate stored", "node", cfg.Name, "expires", cert.Leaf.NotAfter, "dir", cfg.StateDir)
	return &cert, nil
}

// writePrivate replaces path with data, mode 0600, through a rename.
func writePrivate(path string, data []byte) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // an older file's mode
		return err
	}
	return os.Rename(tmp, path)
}

package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/gantry-hpc/gantry/api"
)

// Options are a client's credentials for an https server.
type Options struct {
	// Token is sent as a bearer token. Empty means $GANTRY_TOKEN, then
	// the file ~/.config/gantry/token (which must not be readable by
	// others), unless NoDiscovery.
	Token string
	// CAFile is the cluster CA (PEM) the server's certificate must chain
	// to. Empty means $GANTRY_CA, then ~/.config/gantry/ca.pem if it
	// exists (unless NoDiscovery), then the system's roots.
	CAFile string
	// Certificate is a client certificate to present (node daemons).
	Certificate *tls.Certificate
	// NoDiscovery keeps the client from reading the environment and the
	// user's configuration directory (node daemons have their own).
	NoDiscovery bool
}

// ConfigDir is where a user keeps the token and the cluster CA:
// $XDG_CONFIG_HOME/gantry, by default ~/.config/gantry.
func ConfigDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "gantry"), nil
}

// discover fills in the token and the CA file from the environment and
// the configuration directory.
func (o *Options) discover() error {
	if o.NoDiscovery {
		return nil
	}
	dir, dirErr := ConfigDir()
	if o.Token == "" {
		o.Token = strings.TrimSpace(os.Getenv("GANTRY_TOKEN"))
	}
	if o.Token == "" && dirErr == nil {
		tok, err := ReadTokenFile(filepath.Join(dir, "token"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		o.Token = tok
	}
	if o.CAFile == "" {
		o.CAFile = os.Getenv("GANTRY_CA")
	}
	if o.CAFile == "" && dirErr == nil {
		if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err == nil {
			o.CAFile = filepath.Join(dir, "ca.pem")
		}
	}
	return nil
}

// ReadTokenFile reads a token kept in a file, refusing one that others
// may read (as ssh refuses such keys).
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("token file %s has mode %04o: others may read it; chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b := make([]byte, 4096)
	n, _ := f.Read(b)
	return strings.TrimSpace(string(b[:n])), nil
}

func (o *Options) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cluster CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cluster CA %s: no PEM certificate in it", o.CAFile)
		}
		tc.RootCAs = pool
	}
	if o.Certificate != nil {
		cert := o.Certificate
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return tc, nil
}

// tlsHint adds what to do to a certificate verification failure.
func tlsHint(err error) error {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return fmt.Errorf("%w (give the cluster CA, the server's STATE/tls/ca.pem: $GANTRY_CA or ~/.config/gantry/ca.pem)", err)
	}
	return err
}

// CreateToken makes a token; the answer holds its secret, shown once.
func (c *Client) CreateToken(ctx context.Context, req api.TokenRequest) (api.TokenCreated, error) {
	var out api.TokenCreated
	err := c.do(ctx, http.MethodPost, "/v1/tokens", req, &out)
	return out, err
}

// Tokens lists the caller's tokens; admins get everyone's with user
// "all", or one user's.
func (c *Client) Tokens(ctx context.Context, user string) ([]api.Token, error) {
	var out api.TokenList
	err := c.do(ctx, http.MethodGet, "/v1/tokens?"+url.Values{"user": {user}}.Encode(), nil, &out)
	return out.Tokens, err
}

// RevokeToken revokes a token by id.
func (c *Client) RevokeToken(ctx context.Context, id string) (api.Token, error) {
	var out api.Token
	err := c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Join asks for a node's client certificate (with a join token).
func (c *Client) Join(ctx context.Context, req api.JoinRequest) (api.JoinResponse, error) {
	var out api.JoinResponse
	err := c.do(ctx, http.MethodPost, "/v1/nodes/join", req, &out)
	return out, err
}

// Audit returns audit records; query takes user, since, until (RFC
// 3339), method and limit.
func (c *Client) Audit(ctx context.Context, query url.Values) ([]api.AuditRecord, error) {
	var out api.AuditList
	err := c.do(ctx, http.MethodGet, "/v1/audit?"+query.Encode(), nil, &out)
	return out.Records, err
}

package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// rootToken stores a user token for root and returns its secret.
func rootToken(t *testing.T, s *Server) string {
	t.Helper()
	return userToken(t, s, "root")
}

func userToken(t *testing.T, s *Server, name string) string {
	t.Helper()
	var out api.TokenCreated
	if code := call(t, s, root, "POST", "/v1/tokens", `{"user":"`+name+`"}`, &out); code != http.StatusCreated {
		t.Fatalf("token for %s: %d", name, code)
	}
	return out.Secret
}

// tlsServer is a server with a cluster PKI, served over TLS.
func tlsServer(t *testing.T) (*Server, *httptest.Server, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Init(InitOptions{StateDir: dir}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{StateDir: dir, Socket: "unused", Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.Close() })
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.TLS = s.pki.tlsConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(s.pki.ca)
	return s, ts, pool
}

func httpsClient(pool *x509.CertPool, certs ...tls.Certificate) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
}

// send makes one request and decodes the answer into out.
func send(t *testing.T, hc *http.Client, method, url, token, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if out != nil {
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

func TestInitFiles(t *testing.T) {
	dir := t.TempDir()
	res, err := Init(InitOptions{StateDir: dir, Hosts: []string{"head.example", "10.1.2.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.CreatedCA || !res.CreatedJoinToken || !strings.HasPrefix(res.JoinToken, joinPrefix) {
		t.Fatalf("init result %+v", res)
	}
	for _, f := range []string{filepath.Join(TLSDir, caKeyFile), filepath.Join(TLSDir, serverKeyFile), JoinTokenFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", f, fi.Mode(), err)
		}
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, TLSDir, serverCertFile), filepath.Join(dir, TLSDir, serverKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := pair.Leaf.VerifyHostname("head.example"); err != nil {
		t.Error(err)
	}
	if err := pair.Leaf.VerifyHostname("10.1.2.3"); err != nil {
		t.Error(err)
	}
	if _, ok := pair.Leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("server key %T, want ECDSA", pair.Leaf.PublicKey)
	}
	// Again: the CA and the join token are kept.
	again, err := Init(InitOptions{StateDir: dir})
	if err != nil || again.CreatedCA || again.CreatedJoinToken || again.JoinToken != res.JoinToken {
		t.Fatalf("second init %+v, %v", again, err)
	}
}

func TestListenNeedsInit(t *testing.T) {
	_, err := New(Config{StateDir: t.TempDir(), Socket: "unused", Listen: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "gantry server init") {
		t.Fatalf("New with --listen and no CA: %v", err)
	}
}

func TestTLSRefusesNoTokenAndBadCertificate(t *testing.T) {
	_, ts, pool := tlsServer(t)
	if code := send(t, httpsClient(pool), "GET", ts.URL+"/v1/health", "", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", code)
	}
	if code := send(t, httpsClient(pool), "GET", ts.URL+"/v1/health", "gtu_0123456789ab_nope", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d, want 401", code)
	}
	// A client certificate from another CA fails the handshake.
	// (GetClientCertificate: Go's client would not even send a
	// certificate the server's CA list does not name.)
	bad := selfSigned(t, "n1")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bad, nil }}}}
	resp, err := hc.Get(ts.URL + "/v1/health")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate of another CA was accepted: %s", resp.Status)
	}
	if !strings.Contains(err.Error(), "tls: ") {
		t.Fatalf("bad certificate: %v, want a TLS alert", err)
	}
	// And a client that does not trust the cluster CA refuses the server.
	if _, err := httpsClient(x509.NewCertPool()).Get(ts.URL + "/v1/health"); err == nil {
		t.Fatal("the server's certificate verified without the cluster CA")
	}
}

func selfSigned(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn, Organization: []string{nodeOrg}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestUserTokens(t *testing.T) {
	s, ts, pool := tlsServer(t)
	hc := httpsClient(pool)
	// daemon and bin exist on every Debian host.
	daemonTok, binTok := userToken(t, s, "daemon"), userToken(t, s, "bin")
	var health map[string]string
	if code := send(t, hc, "GET", ts.URL+"/v1/health", daemonTok, "", &health); code != 200 || health["user"] != "daemon" {
		t.Fatalf("health with daemon's token: %d %v", code, health)
	}
	var sub api.SubmitResponse
	if code := send(t, hc, "POST", ts.URL+"/v1/jobs", daemonTok, `{"command":["true"],"cwd":"/tmp"}`, &sub); code != http.StatusCreated {
		t.Fatalf("submit with a token: %d", code)
	}
	j, err := s.store.Job(t.Context(), sub.ID)
	if err != nil || j.User != "daemon" || j.UID != 1 || j.GID != 1 {
		t.Fatalf("job %+v, %v: want user daemon, uid 1, gid 1", j, err)
	}
	var e api.Error
	if code := send(t, hc, "POST", ts.URL+"/v1/jobs/1/kill", binTok, "", &e); code != http.StatusForbidden {
		t.Fatalf("bin killed daemon's job: %d %v", code, e)
	}
	if code := send(t, hc, "POST", ts.URL+"/v1/jobs/1/kill", daemonTok, "", nil); code != 200 {
		t.Fatalf("daemon killing its own job: %d", code)
	}
	// Users are not admins and not nodes.
	if code := send(t, hc, "POST", ts.URL+"/v1/nodes/n1/drain", daemonTok, `{"reason":"x"}`, nil); code != http.StatusForbidden {
		t.Fatalf("drain by a user: %d", code)
	}
	// Root's token is an admin but not a node.
	rootTok := rootToken(t, s)
	if code := send(t, hc, "POST", ts.URL+"/v1/nodes/register", rootTok, `{"name":"n1","cpus":[0],"memory_bytes":1048576}`, &e); code != http.StatusForbidden {
		t.Fatalf("register with root's token: %d %v", code, e)
	}
	// No new tokens over TCP for users; admins may.
	if code := send(t, hc, "POST", ts.URL+"/v1/tokens", daemonTok, `{}`, &e); code != http.StatusForbidden {
		t.Fatalf("token over TCP by a user: %d %v", code, e)
	}
	var created api.TokenCreated
	if code := send(t, hc, "POST", ts.URL+"/v1/tokens", rootTok, `{"user":"bin","ttl_seconds":60}`, &created); code != http.StatusCreated || created.Expires == nil {
		t.Fatalf("token over TCP by root: %d %+v", code, created)
	}
	// Revoked and expired tokens stop working.
	id := tokenID(daemonTok)
	if code := call(t, s, bob, "DELETE", "/v1/tokens/"+id, "", &e); code != http.StatusForbidden {
		t.Fatalf("bob revoked daemon's token: %d", code)
	}
	if code := call(t, s, root, "DELETE", "/v1/tokens/"+id, "", nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if code := send(t, hc, "GET", ts.URL+"/v1/health", daemonTok, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", code)
	}
	s.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if code := send(t, hc, "GET", ts.URL+"/v1/health", created.Secret, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", code)
	}
	// Secrets are stored hashed.
	if _, err := s.store.TokenByHash(t.Context(), daemonTok); err == nil {
		t.Fatal("a token secret is stored in the clear")
	}
	if got, err := s.store.TokenByHash(t.Context(), hashToken(daemonTok)); err != nil || got.ID != id {
		t.Fatalf("token by hash: %+v, %v", got, err)
	}
}

func TestTokenRules(t *testing.T) {
	s := newTestServer(t)
	var e api.Error
	if code := call(t, s, alice, "POST", "/v1/tokens", `{"user":"root"}`, &e); code != http.StatusForbidden {
		t.Fatalf("alice made root's token: %d", code)
	}
	if code := call(t, s, alice, "POST", "/v1/tokens", `{"kind":"join"}`, &e); code != http.StatusForbidden {
		t.Fatalf("alice made a join token: %d", code)
	}
	if code := call(t, s, root, "POST", "/v1/tokens", `{"user":"no-such-user-xyz"}`, &e); code != http.StatusBadRequest {
		t.Fatalf("token for an unknown user: %d", code)
	}
	var j api.TokenCreated
	if code := call(t, s, root, "POST", "/v1/tokens", `{"kind":"join"}`, &j); code != http.StatusCreated || j.Expires == nil || !strings.HasPrefix(j.Secret, joinPrefix) {
		t.Fatalf("join token: %d %+v (want a default expiry)", code, j)
	}
	var list api.TokenList
	call(t, s, root, "GET", "/v1/tokens", "", &list)
	if len(list.Tokens) != 1 || list.Tokens[0].ID != j.ID {
		t.Fatalf("root's list %+v", list)
	}
	call(t, s, alice, "GET", "/v1/tokens", "", &list)
	if len(list.Tokens) != 0 {
		t.Fatalf("alice sees %+v", list)
	}
}

func TestNodeJoinAndCertificate(t *testing.T) {
	s, ts, pool := tlsServer(t)
	hc := httpsClient(pool)
	joinTok, err := readSecretFile(filepath.Join(s.cfg.StateDir, JoinTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "whatever"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))
	body, _ := json.Marshal(api.JoinRequest{Name: "n1", CSR: csr})

	var e api.Error
	if code := send(t, hc, "POST", ts.URL+"/v1/nodes/join", "", string(body), &e); code != http.StatusUnauthorized {
		t.Fatalf("join without a token: %d", code)
	}
	// A join token does nothing but join.
	if code := send(t, hc, "GET", ts.URL+"/v1/nodes", joinTok, "", &e); code != http.StatusForbidden {
		t.Fatalf("join token listing nodes: %d", code)
	}
	var jr api.JoinResponse
	if code := send(t, hc, "POST", ts.URL+"/v1/nodes/join", joinTok, string(body), &jr); code != 200 {
		t.Fatalf("join: %d", code)
	}
	b, _ := pem.Decode([]byte(jr.Certificate))
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil || cert.Subject.CommonName != "n1" {
		t.Fatalf("node certificate %v, %v", cert.Subject, err)
	}
	nodeClient := httpsClient(pool, tls.Certificate{Certificate: [][]byte{b.Bytes}, PrivateKey: key})
	if code := send(t, nodeClient, "POST", ts.URL+"/v1/nodes/register", "", `{"name":"n1","cpus":[0,1],"memory_bytes":1073741824}`, &e); code != 200 {
		t.Fatalf("register with the node certificate: %d %v", code, e)
	}
	if code := send(t, nodeClient, "POST", ts.URL+"/v1/nodes/register", "", `{"name":"n2","cpus":[0,1],"memory_bytes":1073741824}`, &e); code != http.StatusForbidden {
		t.Fatalf("n1 registered n2: %d", code)
	}
	if code := send(t, nodeClient, "GET", ts.URL+"/v1/nodes/n2/assignments?wait=0s", "", "", &e); code != http.StatusForbidden {
		t.Fatalf("n1 polled n2's jobs: %d", code)
	}
	if code := send(t, nodeClient, "GET", ts.URL+"/v1/nodes/n1/assignments?wait=0s", "", "", nil); code != 200 {
		t.Fatalf("n1 polling its jobs: %d", code)
	}
	if code := send(t, nodeClient, "POST", ts.URL+"/v1/jobs", "", `{"command":["true"],"cwd":"/tmp"}`, &e); code != http.StatusForbidden {
		t.Fatalf("a node submitted a job: %d", code)
	}
	// A stored join token, once revoked, joins no more.
	var jt api.TokenCreated
	call(t, s, root, "POST", "/v1/tokens", `{"kind":"join"}`, &jt)
	if code := send(t, hc, "POST", ts.URL+"/v1/nodes/join", jt.Secret, string(body), nil); code != 200 {
		t.Fatalf("join with a stored token: %d", code)
	}
	call(t, s, root, "DELETE", "/v1/tokens/"+jt.ID, "", nil)
	if code := send(t, hc, "POST", ts.URL+"/v1/nodes/join", jt.Secret, string(body), nil); code != http.StatusUnauthorized {
		t.Fatalf("join with a revoked token: %d", code)
	}
}

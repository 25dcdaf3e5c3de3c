package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// freeAddr returns a 127.0.0.1 address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// initStateDir runs gantry server init in a new state directory (removed
// at the end) and returns it.
func initStateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "gantry-it-state-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	out, err := exec.Command(gantryBin, "server", "init", "--state-dir", dir, "--hosts", "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("gantry server init: %v\n%s", err, out)
	}
	return dir
}

// remote runs the CLI as root against url, with only the credentials
// given (an empty HOME: nothing in ~/.config/gantry).
func (c *cluster) remote(url, ca, token string, args ...string) result {
	c.t.Helper()
	cmd := exec.Command(gantryBin, append([]string{"--server", url}, args...)...)
	cmd.Dir = c.work
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(c.dir, "remote-home")}
	if ca != "" {
		cmd.Env = append(cmd.Env, "GANTRY_CA="+ca)
	}
	if token != "" {
		cmd.Env = append(cmd.Env, "GANTRY_TOKEN="+token)
	}
	return c.run(cmd)
}

// TestTLSTokensAndJoin runs a server with a TLS listener: callers without
// a token or with a certificate of another CA are refused; a node daemon
// joins over https with a join token and runs a job that a remote user
// submitted with a user token; another user's token may not kill it.
func TestTLSTokensAndJoin(t *testing.T) {
	requireJobHost(t)
	st := initStateDir(t)
	addr := freeAddr(t)
	url := "https://" + addr
	ca := filepath.Join(st, "tls", "ca.pem")
	c := newCluster(t, "--state-dir", st, "--listen", addr)

	if r := c.remote(url, ca, "", "jobs"); r.code != 1 || !strings.Contains(r.stderr, "unauthenticated") {
		t.Errorf("no token: %+v", r)
	}
	if r := c.remote(url, "", "", "jobs"); r.code != 1 || !strings.Contains(r.stderr, "certificate signed by unknown authority") {
		t.Errorf("without the cluster CA: %+v", r)
	}
	if err := handshakeWithForeignCert(ca, addr); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}

	// Tokens are made on the socket and shown once.
	token := func(args ...string) string {
		t.Helper()
		r := c.gantry(append([]string{"token", "create"}, args...)...)
		tok := strings.TrimSpace(r.stdout)
		if r.code != 0 || tok == "" || !strings.Contains(r.stderr, "shown only once") {
			t.Fatalf("token create %v: %+v", args, r)
		}
		return tok
	}
	nobodyTok, daemonTok := token("--user", "nobody"), token("--user", "daemon", "--ttl", "1h")
	joinTok := token("--node", "--ttl", "10m")
	if r := c.gantryAs(nobody, "token", "create", "--user", "daemon"); r.code == 0 {
		t.Errorf("nobody made daemon's token: %+v", r)
	}

	// The node joins over https and keeps its certificate.
	c.startNode("n1", "0", "1G", "--server", url, "--join-token", joinTok, "--ca", ca)
	nodeDir := filepath.Join(c.dir, "node-n1")
	for _, f := range []string{"node.key", "node.pem"} {
		if fi, err := os.Stat(filepath.Join(nodeDir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("node's %s: %v, %v: want mode 0600", f, fi, err)
		}
	}

	// A remote user submits; the job runs as that user on the node.
	r := c.remote(url, ca, nobodyTok, "sub", "-o", "tls.%J", "--", "id", "-u")
	var id int64
	if _, err := fmt.Sscanf(r.stdout, "Job <%d>", &id); err != nil || r.code != 0 {
		t.Fatalf("remote submit: %+v", r)
	}
	j := c.waitState(id, time.Minute, api.StateSucceeded)
	if j.User != "nobody" || j.UID != nobody {
		t.Errorf("job of the token's user: user %s uid %d", j.User, j.UID)
	}
	if got := strings.TrimSpace(c.output(fmt.Sprintf("tls.%d", id))); got != "65534" {
		t.Errorf("the job ran as uid %s, want 65534", got)
	}

	// Another user's token may not kill it; its own may.
	r = c.remote(url, ca, nobodyTok, "sub", "-o", "/dev/null", "--", "sleep", "600")
	long := int64(0)
	fmt.Sscanf(r.stdout, "Job <%d>", &long)
	c.waitState(long, time.Minute, api.StateRunning)
	if r := c.remote(url, ca, daemonTok, "kill", fmt.Sprint(long)); r.code == 0 {
		t.Errorf("daemon killed nobody's job: %+v", r)
	}
	if r := c.remote(url, ca, nobodyTok, "kill", fmt.Sprint(long)); r.code != 0 {
		t.Errorf("nobody killing its own job: %+v", r)
	}
	c.waitState(long, time.Minute, api.StateCancelled)

	// A revoked token is refused.
	tokID := strings.Split(strings.TrimPrefix(daemonTok, "gtu_"), "_")[0]
	if r := c.gantry("token", "revoke", tokID); r.code != 0 {
		t.Fatalf("revoke: %+v", r)
	}
	if r := c.remote(url, ca, daemonTok, "jobs"); r.code != 1 || !strings.Contains(r.stderr, "unauthenticated") {
		t.Errorf("revoked token: %+v", r)
	}

	// A restarted node daemon needs no join token: its certificate is
	// enough (the join token has been revoked meanwhile).
	c.gantry("token", "revoke", strings.Split(strings.TrimPrefix(joinTok, "gtj_"), "_")[0])
	c.nodes["n1"].stop()
	c.startNode("n1", "0", "1G", "--server", url)
	again := c.remote(url, ca, nobodyTok, "sub", "-o", "/dev/null", "--", "true")
	fmt.Sscanf(again.stdout, "Job <%d>", &id)
	c.waitState(id, time.Minute, api.StateSucceeded)
}

// handshakeWithForeignCert connects to addr presenting a certificate that
// the cluster CA did not sign; it returns nil if the server answered.
func handshakeWithForeignCert(caFile, addr string) error {
	pemCA, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "n1", Organization: []string{"gantry-node"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}}}
	resp, err := hc.Get("https://" + addr + "/v1/nodes/n1/assignments?wait=0s")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

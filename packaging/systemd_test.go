package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeInstall runs make install into a scratch DESTDIR and checks the
// units it installs, with systemd-analyze verify where it exists.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gantry and runs make install")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("needs make")
	}
	dest := t.TempDir()
	// An existing options file is the administrator's: kept.
	mine := "GANTRY_NODE_OPTS=\"--server https://head:8443\"\n"
	os.MkdirAll(filepath.Join(dest, "etc", "default"), 0o755)
	os.WriteFile(filepath.Join(dest, "etc", "default", "gantry-node"), []byte(mine), 0o644)
	cmd := exec.Command("make", "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/opt/gantry")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(dest, "opt/gantry/bin/gantry")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("installed binary: %v %v", fi, err)
	}
	unit := func(name string) string {
		t.Helper()
		path := filepath.Join(dest, "lib/systemd/system", name)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Fatalf("%s: %v %v, want mode 0644", name, fi, err)
		}
		b, _ := os.ReadFile(path)
		return string(b)
	}
	server, node := unit("gantry-server.service"), unit("gantry-node.service")
	for _, w := range []struct{ unit, text, line string }{
		{"server", server, "ExecStart=/opt/gantry/bin/gantry server $GANTRY_SERVER_OPTS"},
		{"server", server, "EnvironmentFile=-/etc/default/gantry-server"},
		{"server", server, "Restart=on-failure"},
		{"server", server, "After=network-online.target"},
		{"node", node, "ExecStart=/opt/gantry/bin/gantry node $GANTRY_NODE_OPTS"},
		{"node", node, "EnvironmentFile=-/etc/default/gantry-node"},
		{"node", node, "KillMode=process"},
		{"node", node, "Delegate=yes"},
		{"node", node, "Restart=on-failure"},
		{"node", node, "LimitNOFILE=1048576"},
		{"node", node, "After=network-online.target gantry-server.service"},
	} {
		if !strings.Contains("\n"+w.text+"\n", "\n"+w.line+"\n") {
			t.Errorf("%s unit lacks %q", w.unit, w.line)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "etc/default/gantry-node")); string(b) != mine {
		t.Errorf("make install replaced an existing /etc/default/gantry-node:\n%s", b)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "etc/default/gantry-server")); err != nil || !strings.Contains(string(b), "GANTRY_SERVER_OPTS=") {
		t.Errorf("/etc/default/gantry-server: %v\n%s", err, b)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found: units not verified")
		return
	}
	// verify wants ExecStart's binary where the unit says: point it at
	// the one in DESTDIR.
	dir := t.TempDir()
	var paths []string
	for name, text := range map[string]string{"gantry-server.service": server, "gantry-node.service": node} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(strings.ReplaceAll(text, "/opt/gantry/bin/gantry", filepath.Join(dest, "opt/gantry/bin/gantry"))), 0o644)
		paths = append(paths, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

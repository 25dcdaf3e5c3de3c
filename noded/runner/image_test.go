package runner

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gantry-hpc/gantry/noded/image/imagetest"
)

// imageJob runs a job in image ref as nobody and checks that it saw the
// image's root filesystem, read-only, with its cwd writable.
func imageJob(t *testing.T, ref, marker string) {
	t.Helper()
	spec := baseSpec(t, "sh", "-c", `cat /etc/gantry-image; echo "env=$GANTRY_IMAGE path=$PATH"; id -u; echo x > written && echo cwd=rw; touch /etc/probe 2>/dev/null && echo etc=rw || echo etc=ro; test -e /usr/bin/python3 && echo host=visible || echo host=hidden`)
	spec.Image, spec.ImageCache = ref, filepath.Join(t.TempDir(), "images")
	res, _ := runJob(t, spec)
	if res.ExitCode != 0 || res.Error != "" {
		t.Fatalf("result %+v; stderr %s", res, readFile(t, spec.Stderr))
	}
	want := fmt.Sprintf("%s\nenv=%s path=/bin\n%d\ncwd=rw\netc=ro\nhost=hidden\n", marker, marker, nobody)
	if got := readFile(t, spec.Stdout); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(spec.Cwd, "written")); err != nil {
		t.Errorf("the job's write to its cwd is not on the host: %v", err)
	}
}

// Image mode with an OCI layout the test builds from busybox-static: no
// registry involved.
func TestImageModeLocalLayout(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	img, err := imagetest.Busybox("layout-image")
	if err != nil {
		t.Skipf("cannot build the busybox test image: %v", err)
	}
	ref, err := imagetest.WriteLayout(filepath.Join(t.TempDir(), "layout"), "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	imageJob(t, ref, "layout-image")
}

// Image mode pulling by tag from a real registry server (Debian's
// docker-registry package) started on loopback.
func TestImageModeRegistryPull(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("needs the docker-registry binary (Debian package docker-registry)")
	}
	img, err := imagetest.Busybox("registry-image")
	if err != nil {
		t.Skipf("cannot build the busybox test image: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start docker-registry: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Skipf("docker-registry did not come up on %s: %v\n%s", addr, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ref := addr + "/gantry/busybox:v1"
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push to the test registry: %v", err)
	}
	imageJob(t, ref, "registry-image")
	if !strings.Contains(ref, "127.0.0.1") {
		t.Fatalf("registry not on loopback: %s", ref)
	}
}

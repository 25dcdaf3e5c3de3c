package image

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/gantry-hpc/gantry/noded/image/imagetest"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root to unpack image files with their owners (euid %d)", os.Geteuid())
	}
}

// Layers are applied with whiteouts (plain and opaque), owners, modes and
// links, and no entry lands outside the rootfs.
func TestGetUnpacksLayers(t *testing.T) {
	requireRoot(t)
	outside := t.TempDir()
	lower, err := imagetest.Layer([]imagetest.Entry{
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/gone", Body: []byte("whited out")},
		{Name: "etc/kept", Body: []byte("kept"), UID: 1234, GID: 5678, Mode: 0o640},
		{Name: "opq/", Type: tar.TypeDir},
		{Name: "opq/old", Body: []byte("hidden by the opaque dir")},
		{Name: "usr/bin/", Type: tar.TypeDir},
		{Name: "usr/bin/tool", Body: []byte("#!/bin/sh\n"), Mode: 0o4755},
		{Name: "usr/bin/hard", Type: tar.TypeLink, Linkname: "usr/bin/tool"},
		{Name: "bin", Type: tar.TypeSymlink, Linkname: "usr/bin"},
		{Name: "escape", Type: tar.TypeSymlink, Linkname: outside},
	})
	if err != nil {
		t.Fatal(err)
	}
	upper, err := imagetest.Layer([]imagetest.Entry{
		{Name: "etc/.wh.gone"},
		{Name: "opq/.wh..wh..opq"},
		{Name: "opq/new", Body: []byte("new")},
		{Name: "etc/kept", Body: []byte("replaced"), UID: 1234, GID: 5678, Mode: 0o600},
		{Name: "escape/planted", Body: []byte("must stay inside")},
		{Name: "bin/via-link", Body: []byte("through the image's own symlink")},
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagetest.Image([]string{"PATH=/usr/bin", "A=b"}, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ref, err := imagetest.WriteLayout(filepath.Join(dir, "layout"), "v1", img)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cache{Dir: filepath.Join(dir, "cache")}
	got, err := c.Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want, _ := img.Digest()
	if got.Digest != want.String() || !strings.HasSuffix(got.Rootfs, strings.Replace(want.String(), ":", "-", 1)+"/rootfs") {
		t.Errorf("digest %s rootfs %s, want %s", got.Digest, got.Rootfs, want)
	}
	if strings.Join(got.Env, " ") != "PATH=/usr/bin A=b" {
		t.Errorf("env %q", got.Env)
	}
	r := got.Rootfs
	read := func(p string) string { b, _ := os.ReadFile(filepath.Join(r, p)); return string(b) }
	for p, wantBody := range map[string]string{
		"etc/kept": "replaced", "opq/new": "new", "usr/bin/via-link": "through the image's own symlink",
		"usr/bin/hard": "#!/bin/sh\n",
	} {
		if got := read(p); got != wantBody {
			t.Errorf("%s = %q, want %q", p, got, wantBody)
		}
	}
	for _, p := range []string{"etc/gone", "opq/old"} {
		if _, err := os.Lstat(filepath.Join(r, p)); err == nil {
			t.Errorf("%s exists; a whiteout should have removed it", p)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); err == nil {
		t.Errorf("an entry below an absolute symlink was written outside the rootfs")
	}
	if got := read(filepath.Join(strings.TrimPrefix(outside, "/"), "planted")); got != "must stay inside" {
		t.Errorf("the entry below the symlink was not written inside the rootfs: %q", got)
	}
	fi, err := os.Stat(filepath.Join(r, "etc/kept"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscallStat); st.Uid != 1234 || st.Gid != 5678 || fi.Mode().Perm() != 0o600 {
		t.Errorf("etc/kept owner %d:%d mode %v, want 1234:5678 0600", st.Uid, st.Gid, fi.Mode().Perm())
	}
	if fi, err := os.Stat(filepath.Join(r, "usr/bin/tool")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("usr/bin/tool lost its setuid bit: %v %v", fi.Mode(), err)
	}
}

// Concurrent Gets of one image unpack it once; a docker archive of the
// same image has the same digest and shares the cache entry.
func TestGetOncePerDigest(t *testing.T) {
	requireRoot(t)
	img, err := imagetest.Busybox("once")
	if err != nil {
		t.Skipf("%v", err)
	}
	dir := t.TempDir()
	ref, err := imagetest.WriteLayout(filepath.Join(dir, "layout"), "latest", img)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cache{Dir: filepath.Join(dir, "cache")}
	var wg sync.WaitGroup
	roots := make([]string, 4)
	errs := make([]error, 4)
	for i := range roots {
		wg.Go(func() {
			got, err := c.Get(context.Background(), ref)
			if err == nil {
				roots[i] = got.Rootfs
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range roots {
		if errs[i] != nil || roots[i] != roots[0] {
			t.Fatalf("Get %d: %s, %v (first %s)", i, roots[i], errs[i], roots[0])
		}
	}
	ents, _ := os.ReadDir(c.Dir)
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) != 1 {
		t.Errorf("cache holds %v, want one unpacked image", dirs)
	}
	if _, err := os.Stat(filepath.Join(roots[0], "bin/sh")); err != nil {
		t.Errorf("busybox image lacks /bin/sh: %v", err)
	}

	tarPath := filepath.Join(dir, "img.tar")
	if err := tarball.WriteToFile(tarPath, mustTag(t, "gantry/test:latest"), img); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(context.Background(), tarPath)
	if err != nil {
		t.Fatalf("Get docker archive: %v", err)
	}
	if got.Rootfs != roots[0] {
		t.Logf("docker archive unpacked to %s (layout: %s): a docker archive re-encodes the manifest", got.Rootfs, roots[0])
	}
}

func TestRefErrors(t *testing.T) {
	for _, ref := range []string{"oci:/nonexistent/layout", "oci-archive:/nonexistent.tar", "docker-archive:/nonexistent.tar", "UPPER/Case:bad tag"} {
		if _, err := Open(context.Background(), ref); err == nil || !strings.Contains(err.Error(), ref) {
			t.Errorf("Open(%q) = %v, want an error naming it", ref, err)
		}
	}
}

func TestSplitTag(t *testing.T) {
	for in, want := range map[string][2]string{
		"/a/b:v1":    {"/a/b", "v1"},
		"/a/b":       {"/a/b", ""},
		"/a:b/c":     {"/a:b/c", ""},
		"rel/dir:v2": {"rel/dir", "v2"},
	} {
		if p, tag := splitTag(in); p != want[0] || tag != want[1] {
			t.Errorf("splitTag(%q) = %q, %q, want %q", in, p, tag, want)
		}
	}
}

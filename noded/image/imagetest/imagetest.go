package imagetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// StaticBusybox is where Debian's busybox-static installs its binary.
const StaticBusybox = "/bin/busybox"

// Entry is one file of a layer.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg (default), TypeDir, TypeSymlink, TypeLink
	Body     []byte
	Linkname string
	Mode     int64 // default 0644 (files), 0755 (dirs)
	UID, GID int
}

// Layer builds an uncompressed-in-memory layer from entries.
func Layer(entries []Entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Linkname, Mode: e.Mode, Uid: e.UID, Gid: e.GID, ModTime: mtime, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.Body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// Image stacks layers into an OCI image with env in its config.
func Image(env []string, layers ...v1.Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = env
	return mutate.ConfigFile(img, cf)
}

// Busybox builds an image holding the host's static busybox with a link
// per applet in /bin, /etc/passwd and /etc/group, an empty /tmp, and
// /etc/gantry-image containing marker. It fails (tests should skip) when
// busybox-static is not installed.
func Busybox(marker string) (v1.Image, error) {
	bb, err := os.ReadFile(StaticBusybox)
	if err != nil {
		return nil, fmt.Errorf("busybox-static not installed: %w", err)
	}
	out, err := exec.Command(StaticBusybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", StaticBusybox, err)
	}
	es := []Entry{
		{Name: "bin/", Type: tar.TypeDir},
		{Name: "bin/busybox", Body: bb, Mode: 0o755},
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n")},
		{Name: "etc/group", Body: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Name: "etc/gantry-image", Body: []byte(marker + "\n")},
		{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
	}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			es = append(es, Entry{Name: "bin/" + a, Type: tar.TypeSymlink, Linkname: "busybox"})
		}
	}
	l, err := Layer(es)
	if err != nil {
		return nil, err
	}
	return Image([]string{"PATH=/bin", "GANTRY_IMAGE=" + marker}, l)
}

// WriteLayout writes img into a new OCI layout at dir, tagged tag, and
// returns the reference "oci:DIR:TAG".
func WriteLayout(dir, tag string, img v1.Image) (string, error) {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		return "", err
	}
	return "oci:" + dir + ":" + tag, nil
}

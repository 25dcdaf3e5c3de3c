package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

// Image is an unpacked image.
type Image struct {
	// Ref is the reference it was resolved from.
	Ref string
	// Digest is the manifest digest ("sha256:…").
	Digest string
	// Rootfs is the unpacked root filesystem (do not modify).
	Rootfs string
	// Env, WorkingDir, Entrypoint and Cmd are from the image's config.
	Env        []string
	WorkingDir string
	Entrypoint []string
	Cmd        []string
}

// Cache unpacks images below Dir.
type Cache struct {
	// Dir holds the unpacked images; it is created (0700) when missing.
	Dir string
}

// Get resolves ref (see the package comment) and returns the unpacked
// image, unpacking it first unless the cache has it.
func (c *Cache) Get(ctx context.Context, ref string) (*Image, error) {
	img, err := Open(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer removeTemp(img)
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image %s: manifest digest: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", ref, err)
	}
	if cf.OS != "" && cf.OS != "linux" {
		return nil, fmt.Errorf("image %s: os %q, want linux", ref, cf.OS)
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("image cache %s: %w", c.Dir, err)
	}
	key := digest.Algorithm + "-" + digest.Hex
	final := filepath.Join(c.Dir, key)
	out := &Image{
		Ref: ref, Digest: digest.String(), Rootfs: filepath.Join(final, "rootfs"),
		Env: cf.Config.Env, WorkingDir: cf.Config.WorkingDir, Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd,
	}
	if _, err := os.Stat(final); err == nil {
		return out, nil
	}

	// One unpacker per digest, across processes.
	lock, err := os.OpenFile(final+".lock", os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image cache lock: %w", err)
	}
	defer lock.Close()
	if err := flock(ctx, lock); err != nil {
		return nil, fmt.Errorf("image cache lock %s: %w", lock.Name(), err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if _, err := os.Stat(final); err == nil {
		return out, nil // unpacked by another process meanwhile
	}
	tmp, err := os.MkdirTemp(c.Dir, ".unpack-"+key+"-")
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	if err := unpack(ctx, img, rootfs); err != nil {
		return nil, fmt.Errorf("unpack image %s (%s): %w", ref, digest, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	return out, nil
}

// flock takes an exclusive lock on f, giving up when ctx ends.
func flock(ctx context.Context, f *os.File) error {
	done := make(chan error, 1)
	go func() { done <- unix.Flock(int(f.Fd()), unix.LOCK_EX) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The goroutine stays blocked until the holder unlocks; f is
		// closed by the caller, which releases a lock taken late.
		return ctx.Err()
	}
}

// Open resolves ref to an image without unpacking it.
func Open(ctx context.Context, ref string) (v1.Image, error) {
	kind, rest, _ := strings.Cut(ref, ":")
	switch kind {
	case "oci":
		path, tag := splitTag(rest)
		return fromLayout(path, tag, ref)
	case "oci-archive":
		path, tag := splitTag(rest)
		return fromOCIArchive(path, tag, ref)
	case "docker-archive":
		path, tag := splitTag(rest)
		return fromDockerArchive(path, tag, ref)
	}
	if strings.HasSuffix(ref, ".tar") && filepath.IsAbs(ref) {
		if _, err := os.Stat(ref); err == nil {
			return fromDockerArchive(ref, "", ref)
		}
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: goarch()}))
	if err != nil {
		return nil, fmt.Errorf("pull image %s: %w", ref, err)
	}
	return img, nil
}

// splitTag splits PATH[:TAG]; a colon belongs to the tag only when what
// follows it has no slash.
func splitTag(s string) (path, tag string) {
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i+1:], "/") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func fromLayout(path, tag, ref string) (v1.Image, error) {
	p, err := layout.FromPath(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: read OCI layout: %w", ref, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("image %s: read OCI layout index: %w", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image %s: read OCI layout index: %w", ref, err)
	}
	var found []v1.Descriptor
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		if tag == "" || d.Annotations["org.opencontainers.image.ref.name"] == tag {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0 && tag != "":
		return nil, fmt.Errorf("image %s: no image tagged %q in %s", ref, tag, path)
	case len(found) == 0:
		return nil, fmt.Errorf("image %s: no image in %s", ref, path)
	case len(found) > 1:
		return nil, fmt.Errorf("image %s: %d images in %s; name one with :TAG", ref, len(found), path)
	}
	img, err := idx.Image(found[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return img, nil
}

func fromDockerArchive(path, tag, ref string) (v1.Image, error) {
	var t *name.Tag
	if tag != "" {
		nt, err := name.NewTag(tag)
		if err != nil {
			return nil, fmt.Errorf("image %s: tag %q: %w", ref, tag, err)
		}
		t = &nt
	}
	img, err := tarball.ImageFromPath(path, t)
	if err != nil {
		return nil, fmt.Errorf("image %s: read docker archive: %w", ref, err)
	}
	return img, nil
}

// fromOCIArchive unpacks the archive's layout into a temporary directory
// and reads the image from there; the blobs are read into the cache before
// the directory goes, so it is held only while Get runs.
func fromOCIArchive(path, tag, ref string) (v1.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	defer f.Close()
	dir, err := os.MkdirTemp("", "gantry-oci-archive-")
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if err := unpackPlain(f, dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("image %s: unpack archive: %w", ref, err)
	}
	img, err := fromLayout(dir, tag, ref)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &tempImage{Image: img, dir: dir}, nil
}

// tempImage is an image whose blobs live in a temporary directory; it is
// removed by the process's end at the latest (see removeTemp).
type tempImage struct {
	v1.Image
	dir string
}

// removeTemp removes the directory behind an image from an OCI archive.
func removeTemp(img v1.Image) {
	if t, ok := img.(*tempImage); ok {
		os.RemoveAll(t.dir)
	}
}

package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

func goarch() string { return runtime.GOARCH }

// unpack applies the layers of img, lowest first, below root, as root:
// owners, modes (setuid included), times, symlinks, hard links, device
// nodes and FIFOs, and the OCI whiteouts (.wh.NAME removes NAME of a lower
// layer, .wh..wh..opq empties its directory of lower layers' entries). No
// entry can write outside root: its parent is resolved inside root
// (symlinks in the image are followed as if root were /), and the final
// element is never followed.
func unpack(ctx context.Context, img v1.Image, root string) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("list layers: %w", err)
	}
	var dirs []dirTime
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		err = unpackLayer(ctx, rc, root, &dirs)
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
	}
	// Directory times last: writing into a directory changes its mtime.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chtimes(dirs[i].path, dirs[i].mtime, dirs[i].mtime)
	}
	return nil
}

type dirTime struct {
	path  string
	mtime time.Time
}

const (
	whiteoutPrefix = ".wh."
	opaqueWhiteout = ".wh..wh..opq"
)

func unpackLayer(ctx context.Context, r io.Reader, root string, dirs *[]dirTime) error {
	tr := tar.NewReader(r)
	// Paths this layer wrote: an opaque marker hides only lower layers.
	mine := make(map[string]bool)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		rel := filepath.Clean("/" + h.Name)
		if rel == "/" {
			continue
		}
		parent, err := securejoin.SecureJoin(root, filepath.Dir(rel))
		if err != nil {
			return fmt.Errorf("entry %s: %w", h.Name, err)
		}
		base := filepath.Base(rel)
		switch {
		case base == opaqueWhiteout:
			ents, err := os.ReadDir(parent)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("entry %s: %w", h.Name, err)
			}
			for _, e := range ents {
				if p := filepath.Join(parent, e.Name()); !mine[p] {
					if err := os.RemoveAll(p); err != nil {
						return fmt.Errorf("entry %s: %w", h.Name, err)
					}
				}
			}
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			if err := os.RemoveAll(filepath.Join(parent, strings.TrimPrefix(base, whiteoutPrefix))); err != nil {
				return fmt.Errorf("entry %s: %w", h.Name, err)
			}
			continue
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return fmt.Errorf("entry %s: %w", h.Name, err)
		}
		dst := filepath.Join(parent, base)
		if err := writeEntry(tr, h, root, dst); err != nil {
			return fmt.Errorf("entry %s: %w", h.Name, err)
		}
		mine[dst] = true
		if h.Typeflag == tar.TypeDir {
			*dirs = append(*dirs, dirTime{dst, h.ModTime})
		}
	}
}

func writeEntry(tr *tar.Reader, h *tar.Header, root, dst string) error {
	mode := uint32(h.Mode & 0o7777)
	// An entry replaces what a lower layer had there, except that a
	// directory stays a directory (and gets this entry's owner and mode).
	if fi, err := os.Lstat(dst); err == nil {
		if fi.IsDir() && h.Typeflag == tar.TypeDir {
			return finish(nil, h, dst, mode, false)
		}
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
	case tar.TypeReg:
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		return finish(os.Symlink(h.Linkname, dst), h, dst, mode, true)
	case tar.TypeLink:
		src, err := securejoin.SecureJoin(root, h.Linkname)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(src, root+"/") {
			return fmt.Errorf("hard link to %s: outside the image", h.Linkname)
		}
		return os.Link(src, dst) // shares the target's owner and mode
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := uint32(unix.S_IFCHR)
		switch h.Typeflag {
		case tar.TypeBlock:
			kind = unix.S_IFBLK
		case tar.TypeFifo:
			kind = unix.S_IFIFO
		}
		if err := unix.Mknod(dst, kind|0o600, int(unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor)))); err != nil {
			return err
		}
	default:
		return nil // xattr-only and other headers: nothing to write
	}
	return finish(nil, h, dst, mode, false)
}

// finish sets owner, then mode (chown clears setuid bits), then times.
func finish(err error, h *tar.Header, dst string, mode uint32, link bool) error {
	if err != nil {
		return err
	}
	if err := os.Lchown(dst, h.Uid, h.Gid); err != nil {
		return err
	}
	if link {
		return nil
	}
	if err := unix.Fchmodat(unix.AT_FDCWD, dst, mode, 0); err != nil {
		return err
	}
	return os.Chtimes(dst, h.ModTime, h.ModTime)
}

// unpackPlain writes a tar archive of plain files and directories (an OCI
// layout) below dir, owned by the caller.
func unpackPlain(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		dst, err := securejoin.SecureJoin(dir, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

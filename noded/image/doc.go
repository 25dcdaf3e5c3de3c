// Package image resolves a job's --image reference to an unpacked root
// filesystem, kept in a cache on the node and shared by every job that
// uses the same image.
//
// # References
//
//   - oci:PATH[:TAG] — an OCI image layout directory (index.json), the
//     image tagged TAG there (org.opencontainers.image.ref.name), or its
//     only image when no TAG is given;
//   - oci-archive:PATH[:TAG] — a tar archive of such a layout;
//   - docker-archive:PATH[:TAG], or a path to an existing .tar file — a
//     `docker save` archive;
//   - anything else is a registry reference (debian:12, ghcr.io/o/i@sha256:…),
//     pulled with go-containerregistry; credentials come from the default
//     keychain (~/.docker/config.json of root), registries on loopback and
//     localhost are spoken to over plain HTTP.
//
// # The cache
//
// An image is unpacked once per manifest digest into DIR/sha256-HEX/rootfs:
// layers applied in order, lowest first, with their whiteouts, files with
// the owners, modes and times the layers record.
// Several supervisors (separate processes) may ask for the same image at
// once: one unpacks, under an flock on DIR/sha256-HEX.lock, into a
// temporary directory that is renamed into place when complete; the
// others wait on the lock and find it done. A directory that exists is
// complete. Nothing is ever evicted automatically.
//
// The rootfs is shared and mounted read-only into containers; libcontainer
// may create empty directories in it for its mount points (such as the job's
// submit directory).
package image

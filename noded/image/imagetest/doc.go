// Package imagetest builds small OCI images for tests, with no registry
// and no network: a busybox image from the host's static busybox (Debian's
// busybox-static), and images from explicit tar entries.
package imagetest

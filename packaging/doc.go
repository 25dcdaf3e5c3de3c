// Package packaging tests the files that install Gantry on a host: the
// systemd units in systemd/ and the Makefile's install target.
package packaging

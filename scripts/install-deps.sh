#!/usr/bin/env bash
# Installs the Debian packages Gantry's build, demo and tests use, when run
# as root on Debian and something is missing. Elsewhere it only reports.
set -euo pipefail

need=()
command -v gcc >/dev/null || need+=(gcc)
command -v setpriv >/dev/null || need+=(util-linux)
command -v git >/dev/null || need+=(git)
command -v python3 >/dev/null || need+=(python3)
# Test tools: a static busybox to build OCI images from (image mode), a
# real registry to pull from, and a real Prometheus to scrape the metrics.
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || need+=(busybox-static)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v prometheus >/dev/null || need+=(prometheus)
command -v file >/dev/null || need+=(file)
# Multi-node tests: hosts in network namespaces.
command -v ip >/dev/null || need+=(iproute2)

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "install-deps: please install: ${need[*]}" >&2
	exit 0
fi
echo "install-deps: installing ${need[*]}"
# A failed install is reported, not fatal: the build needs none of these
# (gcc and Go come with the machine), and the tests that need a missing
# tool skip, saying which.
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; }; then
	echo "install-deps: could not install ${need[*]}; the tests that need them will skip" >&2
fi

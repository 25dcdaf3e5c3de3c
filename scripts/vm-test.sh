#!/usr/bin/env bash
# vm-test.sh — run Gantry's cgroup and container tests on a pure cgroup v2
# host: a throw-away QEMU guest booted from Debian's kernel, with cgroup2
# mounted at /sys/fs/cgroup and the cpu, cpuset, memory and pids
# controllers enabled. `make test-vm` calls it; CI runs it after `make test`
# because the CI machine's own cgroups are v1/hybrid.
#
# Steps:
#   1. host packages: qemu-system-x86 and busybox-static (installed with
#      apt-get when missing and running as root);
#   2. Debian's kernel package, fetched with `apt-get download` into
#      $CACHE/kernel and unpacked there (nothing is installed into /boot);
#      only vmlinuz and overlay.ko are used;
#   3. static test binaries of every package in $PKGS (cgo on: nsenter is C;
#      -tags osusergo,netgo so glibc's NSS does not warn in a static link);
#   4. an initramfs: busybox with its applets, /etc/passwd, the test
#      binaries, overlay.ko and /init;
#   5. boot (KVM only with real vmx/svm and no kvm_pvm, else single-threaded
#      TCG), run every test binary with GANTRY_REQUIRE_CGROUP2=1 so that a
#      v2 test that cannot run fails instead of skipping, and take the exit
#      status from the guest's "GANTRY_VM_RC=<n>" console line.
#
# Environment:
#   CACHE       cache directory (default .cache/vm-test in the repository)
#   PKGS        Go packages to test (default "./cgroups ./noded/runner")
#   TEST_RUN    -test.run regexp (default: all tests)
#   TEST_ARGS   extra test flags (default "-test.short")
#   ACCEL       kvm or tcg (default: detected as above)
#   MEM, SMP    guest memory in MiB (default 1536) and vCPUs (default 2)
#   VM_TIMEOUT  seconds before the VM is killed (default 300)
#   KERNEL      a vmlinuz to boot instead of Debian's (OVERLAY_KO with it)
#
# Exit status: the first failing test binary's status (0 when all pass),
# 2 when the guest printed no result (hang, panic, timeout), 3 when a
# prerequisite is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
CACHE=${CACHE:-$REPO/.cache/vm-test}
PKGS=${PKGS:-./cgroups ./noded/runner}
TEST_RUN=${TEST_RUN:-.}
TEST_ARGS=${TEST_ARGS:--test.short}
MEM=${MEM:-1536}
SMP=${SMP:-2}
VM_TIMEOUT=${VM_TIMEOUT:-300}
GUEST_TIMEOUT=$((VM_TIMEOUT - 20))
GO=${GO:-go}

say() { printf 'vm-test: %s\n' "$*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(now)

# --- 1. host packages -----------------------------------------------------
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
# The guest needs a static busybox: Debian's busybox-static puts one at
# /bin/busybox (the dynamic "busybox" package would not run in the guest).
static_busybox() { [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1; }
static_busybox || missing+=(busybox-static)
if ((${#missing[@]})); then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		say "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
	else
		say "missing ${missing[*]}; install them (apt-get install ${missing[*]})"
		exit 3
	fi
fi
static_busybox || { say "/bin/busybox is not a static busybox (apt-get install busybox-static)"; exit 3; }
BUSYBOX=/bin/busybox

mkdir -p "$CACHE"

# --- 2. kernel ---------------------------------------------------------------
# Debian's kernel has everything built in (cgroups with memcg, cpu
# bandwidth, pids and cpuset, cgroup BPF for the v2 device controller,
# namespaces, devtmpfs, the 8250 console, gzip initrd); overlay is a module
# and matters for speed: runc clones its binary on every container start
# and uses a sealed overlayfs for that when it can, else a memfd copy of
# the whole binary.
if [[ -z ${KERNEL:-} ]]; then
	KDIR=$CACHE/kernel
	if ! compgen -G "$KDIR/boot/vmlinuz-*" >/dev/null; then
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
		if [[ -z $pkg ]]; then
			[[ $(id -u) == 0 ]] && apt-get update -qq >&2
			pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
		fi
		[[ -n $pkg ]] || { say "cannot resolve Debian's linux-image-amd64 (apt lists missing?)"; exit 3; }
		say "downloading $pkg"
		rm -rf "$KDIR.tmp" && mkdir -p "$KDIR.tmp"
		(cd "$KDIR.tmp" && apt-get download "$pkg" >&2 && dpkg-deb -x ./*.deb . && rm -f ./*.deb)
		rm -rf "$KDIR" && mv "$KDIR.tmp" "$KDIR"
	fi
	KERNEL=$(ls "$KDIR"/boot/vmlinuz-* | head -1)
	OVERLAY_KO=${OVERLAY_KO:-$(find "$KDIR/lib/modules" -name 'overlay.ko*' | head -1)}
fi
say "kernel $KERNEL, overlay module ${OVERLAY_KO:-none}"

# --- 3. static test binaries ---------------------------------------------------
BIN=$CACHE/bin
rm -rf "$BIN" && mkdir -p "$BIN"
names=()
for p in $PKGS; do
	name=$(echo "${p#./}" | tr / _).test
	CGO_ENABLED=1 CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}" \
		"$GO" test -c -o "$BIN/$name" -tags osusergo,netgo -ldflags '-extldflags -static' "$p"
	if ldd "$BIN/$name" >/dev/null 2>&1; then
		say "$BIN/$name is not static"
		exit 3
	fi
	names+=("$name")
done
t_built=$(now)
say "built ${names[*]} in $(secs "$t0" "$t_built")s"

# --- 4. initramfs ---------------------------------------------------------------
IR=$CACHE/initramfs
rm -rf "$IR"
mkdir -p "$IR"/{bin,etc,proc,sys,dev,tmp,run,root,newroot,lib/modules,tests,var/tmp}
cp "$BUSYBOX" "$IR/bin/busybox"
for a in $("$BUSYBOX" --list); do
	[[ $a == busybox ]] || ln -s busybox "$IR/bin/$a"
done
cp "$BIN"/*.test "$IR/tests/"
if [[ -n ${OVERLAY_KO:-} ]]; then
	case $OVERLAY_KO in
	*.xz) xz -dc "$OVERLAY_KO" >"$IR/lib/modules/overlay.ko" ;;
	*.zst) zstd -qdc "$OVERLAY_KO" >"$IR/lib/modules/overlay.ko" ;;
	*) cp "$OVERLAY_KO" "$IR/lib/modules/overlay.ko" ;;
	esac
fi
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$IR/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$IR/etc/group"
chmod 1777 "$IR/tmp" "$IR/var/tmp"

cat >"$IR/init" <<EOF
#!/bin/sh
# PID 1 of the test guest.
export PATH=/bin
if [ ! -e /.stage2 ]; then
	# The initramfs root can never be pivot_root'ed away from (EINVAL),
	# and libcontainer pivot_roots: copy everything into a tmpfs and
	# switch_root there first.
	mount -t tmpfs -o mode=755 tmpfs /newroot
	cp -a /bin /etc /lib /tests /var /init /newroot/
	mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/run /newroot/root
	touch /newroot/.stage2
	exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
# A pure cgroup v2 host: nothing mounts v1 hierarchies here.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
echo "+cpu +cpuset +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
[ -f /lib/modules/overlay.ko ] && insmod /lib/modules/overlay.ko
hostname gantry-vm
echo "GUEST kernel=\$(uname -r) cpus=\$(nproc) controllers=[\$(cat /sys/fs/cgroup/cgroup.subtree_control)] overlay=\$(grep -c overlay /proc/filesystems) up=\$(cut -d' ' -f1 /proc/uptime)s"
# On a hang, dump every task's kernel stack (so the log shows where) and
# kill the tests.
( sleep $GUEST_TIMEOUT
  echo "GUEST watchdog: tests still running after ${GUEST_TIMEOUT}s"
  for p in /proc/[0-9]*; do
	echo "PID \${p#/proc/} \$(tr '\\0' ' ' <\$p/cmdline 2>/dev/null)"
	cat \$p/stack 2>/dev/null | sed 's/^/    /'
  done
  kill -9 \$(pidof ${names[*]}) 2>/dev/null ) &
wd=\$!
rc=0
for t in ${names[*]}; do
	echo "GUEST running \$t"
	cd /tmp
	GANTRY_REQUIRE_CGROUP2=1 /tests/\$t -test.v -test.count=1 -test.timeout=$((GUEST_TIMEOUT - 10))s -test.run '$TEST_RUN' $TEST_ARGS 2>&1
	r=\$?
	echo "GUEST \$t rc=\$r up=\$(cut -d' ' -f1 /proc/uptime)s"
	[ \$rc = 0 ] && rc=\$r
done
kill \$wd 2>/dev/null
echo "GANTRY_VM_RC=\$rc"
sync
poweroff -f || echo o >/proc/sysrq-trigger
EOF
chmod 755 "$IR/init"
(cd "$IR" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 >"$CACHE/initramfs.cpio.gz")
say "initramfs $(du -h "$CACHE/initramfs.cpio.gz" | cut -f1)"

# --- 5. boot ----------------------------------------------------------------------
# KVM only where hardware virtualisation is really there: some sandboxes
# offer a /dev/kvm backed by PVM (module kvm_pvm, no vmx/svm flag), on
# which a stock kernel hangs early in boot. TCG is single-threaded: with
# multi-threaded TCG the guest sometimes hit soft lockups during container
# starts; softlockup_panic turns any lockup into an immediate exit.
if [[ -z ${ACCEL:-} ]]; then
	ACCEL=tcg
	if [[ -r /dev/kvm && -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo && [[ ! -d /sys/module/kvm_pvm ]]; then
		ACCEL=kvm
	fi
fi
case $ACCEL in
kvm) accel=(-enable-kvm -cpu host) ;;
*) accel=(-accel tcg,thread=single -cpu max) ;;
esac
say "booting ($ACCEL, ${MEM} MiB, $SMP vCPUs)"
CONSOLE=$CACHE/console.log
t_boot=$(now)
set +e
timeout "$VM_TIMEOUT" qemu-system-x86_64 "${accel[@]}" -m "$MEM" -smp "$SMP" \
	-nographic -no-reboot -nodefaults -serial stdio -display none \
	-kernel "$KERNEL" -initrd "$CACHE/initramfs.cpio.gz" \
	-append "console=ttyS0 quiet panic=-1 softlockup_panic=1" </dev/null | tee "$CONSOLE"
qrc=${PIPESTATUS[0]}
set -e
t_end=$(now)
say "qemu exit $qrc; build $(secs "$t0" "$t_built")s, VM $(secs "$t_boot" "$t_end")s, total $(secs "$t0" "$t_end")s"

rc=$(tr -d '\r' <"$CONSOLE" | sed -n 's/^GANTRY_VM_RC=\([0-9]*\)$/\1/p' | tail -1)
if [[ -z $rc ]]; then
	say "no GANTRY_VM_RC line on the console (hang, panic or timeout); see $CONSOLE"
	exit 2
fi
if [[ $rc != 0 ]]; then
	say "FAIL (rc $rc); console log in $CONSOLE"
fi
exit "$rc"

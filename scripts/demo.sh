#!/usr/bin/env bash
# A local cluster on the embedded SQLite default, running real jobs: one
# that succeeds, one killed by its memory limit, one killed at its
# walltime. It prints their states, peak memory and output, then stops the
# cluster. Usage: scripts/demo.sh [path/to/gantry]
set -euo pipefail

GANTRY=$(realpath "${1:-bin/gantry}")
work=$(mktemp -d /var/tmp/gantry-demo.XXXXXX)
state="$work/state"
sock="$work/gantry.sock"
jobs="$work/jobs"
mkdir -p "$jobs"
export GANTRY_SERVER="$sock"

# As root, the jobs are submitted as nobody (uid 65534): they run as that
# user, in a directory that user owns.
as_user=()
if [ "$(id -u)" -eq 0 ]; then
	chmod 0755 "$work"
	chown 65534:65534 "$jobs"
	as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi

"$GANTRY" dev --state-dir "$state" --socket "$sock" --log-level warn --memory 2G >"$work/dev.log" 2>&1 &
dev=$!
stop() {
	kill "$dev" 2>/dev/null && wait "$dev" 2>/dev/null || true
	echo "cluster stopped; state, logs and job output kept in $work"
}
trap stop EXIT

for _ in $(seq 100); do
	"$GANTRY" nodes >/dev/null 2>&1 && break
	sleep 0.1
done
echo "== gantry nodes"
"$GANTRY" nodes

sub() { (cd "$jobs" && "${as_user[@]}" "$GANTRY" sub "$@"); }
id_of() { sed -n 's/^Job <\([0-9]*\)>.*/\1/p'; }

echo "== submitting three jobs"
ok=$(sub -J hello -n 1 -M 256M -W 5 -o hello.%J.out -- \
	sh -c 'echo "hello from job $GANTRY_JOB_ID as $(id -un) (uid $(id -u)) on cpus $(grep Cpus_allowed_list /proc/self/status | cut -f2)"; touch /etc/x 2>/dev/null || echo "/etc is read-only here"' | tee /dev/stderr | id_of)
oom=$(sub -J greedy -M 64M -o greedy.%J.out -- \
	sh -c 'echo allocating 300 MiB under a 64 MiB limit; dd if=/dev/zero of=/dev/null bs=300M count=1' | tee /dev/stderr | id_of)
slow=$(sub -J sleepy -W 5s -o sleepy.%J.out -- \
	sh -c 'echo sleeping past my 5 s walltime; sleep 600' | tee /dev/stderr | id_of)

state_of() { "$GANTRY" job "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
for id in "$ok" "$oom" "$slow"; do
	for _ in $(seq 300); do
		case $(state_of "$id") in SUCCEEDED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL) break ;; esac
		sleep 0.1
	done
done

echo "== gantry jobs"
"$GANTRY" jobs -a
for id in "$ok" "$oom" "$slow"; do
	echo "== gantry job $id"
	"$GANTRY" job "$id"
	out=$("$GANTRY" job "$id" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["spec"]["stdout"].replace("%J", str(j["id"])))')
	echo "-- output ($out):"
	sed 's/^/   /' "$jobs/$out"
done

fail=0
[ "$(state_of "$ok")" = SUCCEEDED ] || { echo "demo: job $ok did not succeed" >&2; fail=1; }
[ "$(state_of "$oom")" = FAILED ] || { echo "demo: job $oom was not killed by its memory limit" >&2; fail=1; }
[ "$(state_of "$slow")" = TIMEOUT ] || { echo "demo: job $slow did not time out" >&2; fail=1; }
exit $fail

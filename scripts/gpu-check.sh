#!/usr/bin/env bash
# Checks Gantry on a host with NVIDIA GPUs, end to end: NVML discovery as
# the node daemon reports it, the GPU tests that skip elsewhere, and real
# jobs placed by the scheduler and run in containers as an unprivileged
# user: one that sees exactly its GPU, one that sees none, two that must
# take turns on one GPU, a PyTorch training job, and a torch.distributed
# (NCCL) job started once per GPU. It needs root, the NVIDIA driver and a
# python3 with PyTorch on the PATH (the jobs use it). Everything it prints
# is also written to $OUT/gpu-check.log (OUT defaults to a new directory).
#
# Usage: scripts/gpu-check.sh [DIR]   DIR holds gantry and, optionally,
# the test binaries gpu.test, discover.test and runner.test (go test -c).
set -uo pipefail

bin=$(realpath "${1:-bin}")
root=$(cd "$(dirname "$0")/.." && pwd)
GANTRY="$bin/gantry"
OUT=${OUT:-$(mktemp -d /var/tmp/gantry-gpu-check.XXXXXX)}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1

if ! nvidia-smi -L >/dev/null 2>&1; then
	echo "gpu-check: no NVIDIA GPU here (nvidia-smi -L fails): run it on a host with the driver" >&2
	exit 2
fi
if ! python3 -c 'import torch' 2>/dev/null; then
	echo "gpu-check: the jobs need a python3 with PyTorch on the PATH" >&2
	exit 2
fi

section() { printf '\n=== %s\n' "$*"; }
fail=0
check() { # check DESCRIPTION COMMAND...: runs COMMAND, records a failure
	if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi
}

section host
uname -srm
nvidia-smi -L
nvidia-smi --query-gpu=index,name,memory.total,driver_version,pci.bus_id,persistence_mode --format=csv
ls -l /dev/nvidia* 2>&1
grep cgroup /proc/mounts
python3 -c 'import torch; print("python3:", torch.__version__, "cuda", torch.cuda.is_available())'

section "GPU tests that skip without a GPU"
for pkg in gpu noded/discover noded/runner; do
	t=$bin/$(basename $pkg).test
	[ -x "$t" ] || continue
	(cd "$root/$pkg" && "$t" -test.v -test.count=1 \
		-test.run 'RealHost|TestGPU|CDI|Builtin|Driver|Ldconfig' 2>&1) |
		grep -E '^(=== RUN|--- |\s+\S+_test.go|ok|PASS|FAIL)' | grep -v '^=== RUN'
done

section "a local cluster"
work=$(mktemp -d /var/tmp/gantry-gpu.XXXXXX)
jobs="$work/jobs"
mkdir -p "$jobs"
chmod 0755 "$work"
chown 65534:65534 "$jobs"
export GANTRY_SERVER="$work/gantry.sock"
"$GANTRY" dev --state-dir "$work/state" --socket "$GANTRY_SERVER" --log-level info >"$OUT/dev.log" 2>&1 &
dev=$!
trap 'kill $dev 2>/dev/null; wait $dev 2>/dev/null' EXIT
# Until the node daemon has registered, not only until the server answers.
for _ in $(seq 200); do "$GANTRY" nodes --json 2>/dev/null | grep -q '"name"' && break; sleep 0.1; done
"$GANTRY" nodes
node=$("$GANTRY" nodes --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["nodes"][0]["name"])')
"$GANTRY" nodes -l "$node"

# Jobs are submitted as nobody, with a home it can write (PyTorch's caches).
sub() { (cd "$jobs" && HOME="$jobs" setpriv --reuid=65534 --regid=65534 --clear-groups "$GANTRY" sub "$@"); }
id_of() { sed -n 's/^Job <\([0-9]*\)>.*/\1/p'; }
out_of() { cat "$jobs/$1.out"; }

cat >"$jobs/train.py" <<'EOF'
import os, time, torch
d = torch.device("cuda")
print(f"uid {os.getuid()}, {len(os.sched_getaffinity(0))} cpus, CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}")
print(f"torch {torch.__version__}: {torch.cuda.device_count()} device(s): {torch.cuda.get_device_name(0)}")
torch.manual_seed(0)
X = torch.randn(65536, 512, device=d)
y = X @ torch.randn(512, 1, device=d) + 0.1 * torch.randn(65536, 1, device=d)
model = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1)).to(d)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
t0 = time.time()
for step in range(1, 1001):
    i = torch.randint(0, X.shape[0], (4096,), device=d)
    loss = torch.nn.functional.mse_loss(model(X[i]), y[i])
    opt.zero_grad(); loss.backward(); opt.step()
    if step in (1, 1000):
        print(f"step {step}: loss {loss.item():.4f}")
torch.cuda.synchronize()
print(f"1000 steps in {time.time() - t0:.2f} s")
a = torch.randn(8192, 8192, device=d, dtype=torch.bfloat16)
for _ in range(3): a @ a
torch.cuda.synchronize(); t0 = time.time()
for _ in range(10): a @ a
torch.cuda.synchronize()
print(f"bf16 8192^3 matmul: {10 * 2 * 8192**3 / (time.time() - t0) / 1e12:.0f} TFLOP/s")
print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
EOF
cat >"$jobs/allreduce.py" <<'EOF'
import os, torch, torch.distributed as dist
dist.init_process_group("nccl")
r = dist.get_rank()
torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
t = torch.ones(1 << 20, device="cuda") * (r + 1)
dist.all_reduce(t)
print(f"rank {r}/{dist.get_world_size()} on {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}: all_reduce sum {t[0].item():.0f}")
dist.destroy_process_group()
EOF

section "jobs"
py=$(command -v python3)
gpu=$(sub -J sees-one --gpus 1 -n 2 -M 4G -W 5 -o %J.out -- sh -c \
	'nvidia-smi -L; ls /dev | grep nvidia | tr "\n" " "; echo; env | grep -E "^(CUDA|NVIDIA|GANTRY_GPUS|GPU_DEVICE)" | sort' | id_of)
none=$(sub -J sees-none -n 1 -M 2G -W 5 -o %J.out -- sh -c \
	"ls /dev | grep -c nvidia; nvidia-smi -L; echo nvidia-smi exit \$?; $py -c 'import torch; print(\"cuda available:\", torch.cuda.is_available())'" | id_of)
# Without GPUs, a job must not reach GPU 0 through a node of its own: one
# the job finds in its directory, open to anyone (refused: the mounts
# outside /dev are nodev), or one root makes in the job (refused by the
# job's device cgroup).
mknod -m 0666 "$jobs/nv0" c 195 0
mk=$(sub -J open-gpu0 -W 5 -o %J.out -- sh -c 'head -c 1 nv0 >/dev/null; echo "head exit $?"' | id_of)
mkroot=$( (cd "$jobs" && "$GANTRY" sub -J mknod-gpu0 -W 5 -o %J.out -- sh -c \
	'mknod /dev/nv0 c 195 0 && head -c 1 /dev/nv0 >/dev/null; echo "exit $?"') | id_of)
"$GANTRY" wait --timeout 2m "$gpu" "$none" "$mk" "$mkroot"
echo "-- job $gpu (--gpus 1):"; out_of "$gpu"
echo "-- job $none (no GPU):"; out_of "$none"
echo "-- job $mk (no GPU, opens a node for GPU 0):"; out_of "$mk"
echo "-- job $mkroot (root, no GPU, makes a node for GPU 0):"; out_of "$mkroot"
check "a job with --gpus 1 sees one GPU" grep -q '^GPU 0:' "$jobs/$gpu.out"
check "a job without GPUs sees none" grep -q 'cuda available: False' "$jobs/$none.out"
check "a job cannot open a GPU it was not given" grep -q 'Permission denied' "$jobs/$mk.out"
check "root in a job cannot make a node for a GPU" grep -q 'Operation not permitted' "$jobs/$mkroot.out"

# One GPU, two jobs that each need it: the second waits for the first.
a=$(sub -J turn-a --gpus 1 -W 5 -o %J.out -- sh -c 'date +%s.%N; sleep 5; date +%s.%N' | id_of)
b=$(sub -J turn-b --gpus 1 -W 5 -o %J.out -- sh -c 'date +%s.%N; sleep 5; date +%s.%N' | id_of)
sleep 2
"$GANTRY" jobs -a
"$GANTRY" job "$b"
"$GANTRY" wait --timeout 2m "$a" "$b"
a_end=$(tail -1 "$jobs/$a.out") b_start=$(head -1 "$jobs/$b.out")
echo "job $a ended at $a_end, job $b started at $b_start"
check "jobs needing the same GPU take turns" python3 -c "import sys; sys.exit(not float('$b_start') >= float('$a_end'))"

train=$(sub -J train --gpus 1 -n 4 -M 32G -W 10 -o %J.out -- "$py" train.py | id_of)
dist=$(sub -J allreduce --nodes 1 --gpus-per-node 1 --task-per-gpu -n 2 -M 16G -W 10 -o %J.out -- "$py" allreduce.py | id_of)
"$GANTRY" wait --timeout 5m "$train" "$dist"
echo "-- job $train (PyTorch training):"; out_of "$train"
echo "-- job $dist (torch.distributed, NCCL):"; out_of "$dist"
check "the PyTorch job trained on the GPU" grep -q 'step 1000' "$jobs/$train.out"
check "the NCCL job reduced" grep -q 'all_reduce sum 1' "$jobs/$dist.out"

section accounting
"$GANTRY" jobs -a
"$GANTRY" acct
"$GANTRY" job "$train"
"$GANTRY" nodes -l "$node"
exit $fail

#!/usr/bin/env python3
"""Builds the sysfs/procfs fixture trees used by noded/discover tests.

  python3 testdata/sysfs/make_fixtures.py            # synthetic cases only
  python3 testdata/sysfs/make_fixtures.py --real vm-2cpu   # also copy this host

Only the files discover reads are written. See README.md for each case.
"""
import glob, os, shutil, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(root, rel, text):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)


def cpulist(ids):
    ids = sorted(set(ids))
    out, i = [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        out.append(str(ids[i]) if i == j else "%d-%d" % (ids[i], ids[j]))
        i = j + 1
    return ",".join(out)


def node_meminfo(n, total_kb):
    # Same fields and alignment as drivers/base/node.c prints (abridged).
    free = total_kb * 9 // 10
    rows = [("MemTotal", total_kb), ("MemFree", free), ("MemUsed", total_kb - free),
            ("SwapCached", 0), ("Active", 1843212), ("Inactive", 2211084),
            ("Dirty", 112), ("Writeback", 0), ("FilePages", 3011456),
            ("Mapped", 201344), ("AnonPages", 1042210), ("Shmem", 18452),
            ("KernelStack", 21840), ("PageTables", 15320), ("Slab", 912344)]
    s = "".join("Node %d %-15s %8d kB\n" % (n, k + ":", v) for k, v in rows)
    s += "".join("Node %d %s %5d\n" % (n, k, 0) for k in
                 ("HugePages_Total:", "HugePages_Free:", "HugePages_Surp:"))
    return s


def proc_meminfo(total_kb):
    rows = [("MemTotal", total_kb), ("MemFree", total_kb * 9 // 10),
            ("MemAvailable", total_kb * 95 // 100), ("Buffers", 402112),
            ("Cached", 5834112), ("SwapCached", 0), ("SwapTotal", 0), ("SwapFree", 0)]
    return "".join("%-15s %8d kB\n" % (k + ":", v) for k, v in rows)


# Skylake-SP style core ids: not contiguous (disabled mesh tiles).
SKX_CORE_IDS = [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 16, 17, 18, 19, 20]


def two_socket(root, online, node_kb, total_kb, allowed, model):
    """2 sockets x 16 cores x 2 threads = 64 CPUs, Intel enumeration:
    0-15 socket 0, 16-31 socket 1, 32-63 their hyperthread siblings."""
    cpus = range(64)
    write(root, "sys/devices/system/cpu/online", cpulist(online) + "\n")
    write(root, "sys/devices/system/cpu/possible", "0-63\n")
    for c in cpus:
        d = "sys/devices/system/cpu/cpu%d" % c
        if c != 0:
            write(root, d + "/online", "1\n" if c in online else "0\n")
        if c not in online:
            continue  # the kernel removes topology/ of an offline CPU
        base = c % 32
        sock = base // 16
        write(root, d + "/topology/physical_package_id", "%d\n" % sock)
        write(root, d + "/topology/die_id", "0\n")
        write(root, d + "/topology/core_id", "%d\n" % SKX_CORE_IDS[base % 16])
        sib = [s for s in (base, base + 32) if s in online]
        write(root, d + "/topology/thread_siblings_list", cpulist(sib) + "\n")
    for n in (0, 1):
        d = "sys/devices/system/node/node%d" % n
        ncpus = [c for c in online if (c % 32) // 16 == n]
        write(root, d + "/cpulist", cpulist(ncpus) + "\n")
        write(root, d + "/meminfo", node_meminfo(n, node_kb[n]))
        write(root, d + "/distance", "10 21\n" if n == 0 else "21 10\n")
    write(root, "sys/devices/system/node/online", "0-1\n")
    write(root, "proc/meminfo", proc_meminfo(total_kb))
    write(root, "proc/cpuinfo", "".join(
        "processor\t: %d\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
        "model name\t: %s\nphysical id\t: %d\n\n" % (c, model, (c % 32) // 16) for c in (0, 1)))
    write(root, "proc/self/status",
          "Name:\tgantry\nState:\tR (running)\nTgid:\t4242\nPid:\t4242\n"
          "Cpus_allowed:\t%s\nCpus_allowed_list:\t%s\n"
          "Mems_allowed_list:\t0-1\n" % ("ffffffff,ffffffff", cpulist(allowed)))


def case_2s_64cpu_smt():
    root = os.path.join(HERE, "2s-64cpu-smt")
    shutil.rmtree(root, ignore_errors=True)
    two_socket(root, list(range(64)), {0: 131923456, 1: 132095604}, 263564356,
               list(range(64)), "Intel(R) Xeon(R) Gold 6142 CPU @ 2.60GHz")
    write(root, "proc/sys/kernel/hostname", "node017\n")
    # Pure cgroup v2 host; the daemon runs as a systemd service, no limit.
    write(root, "proc/self/cgroup", "0::/system.slice/gantry-node.service\n")
    write(root, "proc/self/mountinfo",
          "22 98 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n"
          "26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n")
    write(root, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
    write(root, "sys/fs/cgroup/system.slice/memory.max", "max\n")
    write(root, "sys/fs/cgroup/system.slice/gantry-node.service/memory.max", "max\n")


def case_2s_64cpu_cpuset():
    root = os.path.join(HERE, "2s-64cpu-cpuset")
    shutil.rmtree(root, ignore_errors=True)
    online = [c for c in range(64) if c != 63]  # CPU 63 offlined by the admin
    two_socket(root, online, {0: 131923456, 1: 132095604}, 263564356,
               list(range(8, 16)) + list(range(40, 48)),
               "Intel(R) Xeon(R) Gold 6142 CPU @ 2.60GHz")
    write(root, "proc/sys/kernel/hostname", "node018\n")
    # Hybrid cgroup v1 host; the daemon was started in /gantry/node-b with a
    # 32 GiB limit under a parent limited to 16 GiB.
    write(root, "proc/self/cgroup",
          "12:pids:/gantry/node-b\n7:memory:/gantry/node-b\n4:cpu,cpuacct:/gantry/node-b\n"
          "3:cpuset:/gantry/node-b\n1:name=systemd:/gantry/node-b\n0::/gantry/node-b\n")
    write(root, "proc/self/mountinfo",
          "25 24 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755\n"
          "26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate\n"
          "30 25 0:28 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpuset\n"
          "33 25 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory\n")
    m = "sys/fs/cgroup/memory"
    write(root, m + "/memory.limit_in_bytes", "9223372036854771712\n")
    write(root, m + "/gantry/memory.limit_in_bytes", "17179869184\n")
    write(root, m + "/gantry/node-b/memory.limit_in_bytes", "34359738368\n")
    write(root, "sys/fs/cgroup/cpuset/gantry/node-b/cpuset.cpus", "8-15,40-47\n")


def case_1s_4cpu_container():
    """A container: no NUMA, no topology/ directories, cgroup v2 namespace
    whose root is the container's cgroup, no mountinfo or status copied."""
    root = os.path.join(HERE, "1s-4cpu-container")
    shutil.rmtree(root, ignore_errors=True)
    write(root, "sys/devices/system/cpu/online", "0-3\n")
    for c in range(4):
        os.makedirs(os.path.join(root, "sys/devices/system/cpu/cpu%d" % c), exist_ok=True)
        if c:
            write(root, "sys/devices/system/cpu/cpu%d/online" % c, "1\n")
    write(root, "proc/meminfo", proc_meminfo(16384000))
    write(root, "proc/self/cgroup", "0::/\n")
    write(root, "sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n")
    write(root, "sys/fs/cgroup/memory.max", "4294967296\n")


def copy_real(name):
    """Copies the files discover reads from this host."""
    root = os.path.join(HERE, name)
    shutil.rmtree(root, ignore_errors=True)

    def cp(src):
        if os.path.isfile(src):
            with open(src) as f:
                write(root, src.lstrip("/"), f.read())

    cp("/sys/devices/system/cpu/online")
    for d in glob.glob("/sys/devices/system/cpu/cpu[0-9]*"):
        cp(d + "/online")
        for f in ("physical_package_id", "die_id", "core_id", "thread_siblings_list"):
            cp(d + "/topology/" + f)
    for d in glob.glob("/sys/devices/system/node/node[0-9]*"):
        for f in ("cpulist", "meminfo", "distance"):
            cp(d + "/" + f)
    for f in ("/proc/meminfo", "/proc/cpuinfo", "/proc/sys/kernel/hostname",
              "/proc/self/status", "/proc/self/cgroup"):
        cp(f)
    # mountinfo: the cgroup mounts only (the rest describes this workspace).
    with open("/proc/self/mountinfo") as f:
        lines = [l for l in f if " - cgroup" in l]
    write(root, "proc/self/mountinfo", "".join(lines))
    # memory.limit_in_bytes / memory.max along our cgroup's path.
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, ctrl, path = line.rstrip("\n").split(":", 2)
            if "memory" in ctrl.split(","):
                base, fname = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
            elif hid == "0" and ctrl == "":
                base = "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "/sys/fs/cgroup/unified"
                fname = "memory.max"
            else:
                continue
            p = path
            while True:
                cp(os.path.normpath(base + p) + "/" + fname)
                if p in ("/", ""):
                    break
                p = os.path.dirname(p)


if __name__ == "__main__":
    case_2s_64cpu_smt()
    case_2s_64cpu_cpuset()
    case_1s_4cpu_container()
    if len(sys.argv) == 3 and sys.argv[1] == "--real":
        copy_real(sys.argv[2])

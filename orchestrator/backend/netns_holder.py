"""The keeper and holders of the netns backend's nodes (standard library only).

Run as a program by orchestrator/backend/netns.py, never imported by it:

    python3 -I -S netns_holder.py labnet-netns-keeper LAB < spec.json

It reads the spec of some nodes of lab LAB (JSON on stdin), detaches itself
(the command that started it returns at once) and becomes the keeper of
those nodes: a child subreaper that forks, per node, a process which

  1. joins the node's cgroup (cgroup v2, when the spec names one),
  2. unshares its network, mount, UTS, IPC and PID namespaces,
  3. makes its mounts slaves of the host's, detaches the netns and container
     runtime mounts it copied (so a node never pins another's namespace),
  4. sets the hostname and the node's net.* sysctls, mounts a sysfs of its
     own network namespace, and binds the node's private folders (from the
     lab's state directory) over /run, /tmp, /var/log, /srv, /etc/labnet,
     /etc/hosts and /usr/local/bin,
  5. forks the node's holder: PID 1 of the new PID namespace, which mounts
     its /proc and then only reaps children until SIGTERM (or SIGKILL).
     When it ends, the kernel kills every process of the node.

The keeper binds each holder's network namespace to /run/netns/NAME (where
`ip netns` finds it), writes the holder's pid and start time into the node's
state folder, prints one JSON line per node ({"node", "pid"} or {"node",
"error"}) and {"done": true}, and then only reaps the holders; it ends when
the last one has. Every process here keeps the keeper's command line, so
`destroy` finds them by it even after a SIGKILL in the middle of all this.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import TextIO

MARKER = "labnet-netns-keeper"

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 2
PR_SET_CHILD_SUBREAPER = 36

#: mounts a node's copy of the host's mount table must not keep (they pin other namespaces)
DETACHED_UNDER = ("/run/netns", "/run/docker", "/var/run/netns", "/var/lib/docker")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, ctypes.c_ulong(flags), None), f"mount {target}")


def umount_detach(target: str) -> None:
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def mount_points() -> list[tuple[str, str]]:
    """(mount point, file system type) of this process's mount namespace."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            sep = fields.index("-")
            point = fields[4].replace("\\040", " ")
            out.append((point, fields[sep + 1]))
    return out


def ensure_shared_netns_dir(path: str) -> None:
    """/run/netns as iproute2 makes it: a mount point of its own, shared, so a
    namespace unmounted there is unmounted in every copy of the mount table."""
    os.makedirs(path, exist_ok=True)
    if not any(point == path for point, _ in mount_points()):
        mount(path, path, None, MS_BIND | MS_REC)
    mount(None, path, None, MS_SHARED | MS_REC)


def start_time(pid: int) -> int:
    """The kernel's start time of a process (field 22 of /proc/PID/stat): with the
    pid, it names that process and no later one given the same number."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
        data = handle.read()
    return int(data[data.rindex(")") + 2:].split()[19])


def _write_json(path: str, data: object) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def _hold() -> None:
    """PID 1 of a node: reap every child until told to stop."""
    def stop(*_: object) -> None:
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            signal.pause()


def _setup_node(node: dict, report: int) -> None:
    """In the forked child: the node's namespaces, then its holder."""
    if node.get("cgroup"):
        with open(os.path.join(node["cgroup"], "cgroup.procs"), "w", encoding="ascii") as handle:
            handle.write(str(os.getpid()))
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID), "unshare")
    mount(None, "/", None, MS_REC | MS_SLAVE)
    copied = sorted({p for p, fs in mount_points()
                     if fs == "nsfs" or any(p == d or p.startswith(d + "/") for d in DETACHED_UNDER)}, key=len)
    tops: list[str] = []   # a lazy unmount takes the whole subtree: one call per top (each call costs an RCU wait)
    for point in copied:
        if not any(point.startswith(top.rstrip("/") + "/") for top in tops):
            tops.append(point)
    for point in tops:
        try:
            umount_detach(point)
        except OSError:
            pass  # not a mount point of its own
    host = node["hostname"].encode()
    _check(_libc.sethostname(host, len(host)), "sethostname")
    for key, value in node.get("sysctls", {}).items():
        with open("/proc/sys/" + key.replace(".", "/"), "w", encoding="ascii") as handle:
            handle.write(str(value))
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for source, target in node["binds"]:
        mount(source, target, None, MS_BIND)
    holder = os.fork()
    if holder == 0:
        try:
            os.setsid()
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            os.chdir("/")
            os.write(report, b"ready\n")
        except OSError as exc:
            os.write(report, f"error {exc}\n".encode())
            os._exit(1)
        os.close(report)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 65536)
        _hold()
    os.write(report, f"pid {holder}\n".encode())


def spawn(node: dict, netns_dir: str) -> int:
    """One node: its namespaces and holder, the network namespace bound to
    netns_dir/NAME, the holder's identity in the node's state folder. The pid."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        try:
            _setup_node(node, w)
        except Exception as exc:
            try:
                os.write(w, f"error {exc}\n".encode())
            except OSError:
                pass
            os._exit(1)
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        data = os.read(r, 4096)
        if not data:
            break
        chunks.append(data)
    os.close(r)
    os.waitpid(child, 0)
    lines = b"".join(chunks).decode(errors="replace").splitlines()
    pid = next((int(ln.split()[1]) for ln in lines if ln.startswith("pid ")), 0)
    errors = [ln[6:] for ln in lines if ln.startswith("error ")]
    if errors or pid == 0 or "ready" not in lines:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise RuntimeError(errors[0] if errors else "the node's holder did not start")
    target = os.path.join(netns_dir, node["netns"])
    fd = os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)
    mount(f"/proc/{pid}/ns/net", target, None, MS_BIND)
    _write_json(os.path.join(node["state"], "holder.json"), {"pid": pid, "start": start_time(pid)})
    return pid


def keeper(spec: dict) -> None:
    out = sys.stdout
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl")
    netns_dir = spec.get("netns_dir", "/run/netns")
    try:
        ensure_shared_netns_dir(netns_dir)
    except OSError as exc:
        for node in spec["nodes"]:
            _say(out, {"node": node["name"], "error": f"preparing {netns_dir}: {exc}"})
        _say(out, {"done": True})
        return
    for node in spec["nodes"]:
        try:
            line = {"node": node["name"], "pid": spawn(node, netns_dir)}
        except Exception as exc:
            line = {"node": node["name"], "error": str(exc)}
        if not _say(out, line):
            return   # the deploy that asked is gone: start no more nodes (destroy removes these)
    _say(out, {"done": True})


def _say(out: TextIO, line: dict) -> bool:
    """One JSON line to the caller; False once it no longer reads."""
    try:
        out.write(json.dumps(line) + "\n")
        out.flush()
    except OSError:
        return False
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != MARKER:
        sys.stderr.write(f"usage: netns_holder.py {MARKER} LAB < spec.json\n")
        return 2
    spec = json.load(sys.stdin)
    if os.fork() != 0:
        os._exit(0)   # the caller's process returns; the keeper goes on, detached
    os.setsid()
    keeper(spec)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    while True:   # reap the holders (orphans come to a subreaper) until none is left
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

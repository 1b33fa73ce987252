"""A node's supervisor, driven in its container: started (and waited for until
its services say they are listening), stopped. Shell run through the
engine's exec: the node has no Python of ours to call for this."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import contract
from ..errors import BackendError

if TYPE_CHECKING:
    from ..plan import PlanNode

#: stop the supervisor (it stops its services) and wait up to 5 s for it to be gone
_STOP = (f"p=$(cat {contract.SUPERVISOR_PIDFILE} 2>/dev/null) || exit 0; kill $p 2>/dev/null || exit 0; "
         "n=0; while kill -0 $p 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done")


def start(container: Any, node: PlanNode, timeout_s: float = 10.0) -> None:
    """Start the node's supervisor unless it runs, then wait until its
    services (not commands) say they are listening (in what their logs
    got after the start: a log keeps the lines of earlier runs)."""
    running = container.exec_run(["pgrep", "-f", " ".join(contract.SUPERVISOR_ARGV[:3])])
    if running.exit_code == 0:
        return
    programs = {s.name: s.command[0] for s in node.services if s.type == "command" and s.command}
    if programs:   # a program that is not there would be restarted, and fail, for ever
        found = container.exec_run(["sh", "-c", 'for p in "$@"; do command -v "$p" >/dev/null || echo "$p"; done',
                                    "sh", *programs.values()]).output
        missing = (found or b"").decode(errors="replace").splitlines()
        if missing:
            name = next(n for n, p in programs.items() if p == missing[0])
            raise BackendError(f"the service '{name}' of {node.name} runs '{missing[0]}', which is not in the "
                               "node (not a file, nor on its PATH); fix 'command' in the lab file, or use an "
                               "image that has it")
    wait_for = [contract.log_file(s.name) for s in node.services if s.type != "command"]
    sizes = container.exec_run(["sh", "-c", "for f in \"$@\"; do { wc -c < \"$f\"; } 2>/dev/null || echo 0; done",
                                "sh", *wait_for]).output
    offsets = [int(x) if x.isdigit() else 0 for x in (sizes or b"").split()] + [0] * len(wait_for)
    container.exec_run(contract.SUPERVISOR_ARGV, detach=True)
    if not wait_for:
        return
    pairs = " ".join(f"{f}:{o}" for f, o in zip(wait_for, offsets))
    script = (f"end=$(( $(date +%s) + {int(timeout_s)} )); for fo in {pairs}; do f=${{fo%:*}}; o=${{fo##*:}}; "
              f"until tail -c +$((o + 1)) $f 2>/dev/null | grep -q '{contract.READY_LINE}'; do "
              f"[ $(date +%s) -ge $end ] && {{ echo $f; exit 1; }}; sleep 0.05; done; done")
    code, out = container.exec_run(["sh", "-c", script])
    if code != 0:
        log = (out or b"").decode(errors="replace").strip()
        tail = container.exec_run(["sh", "-c", f"tail -n 5 {log} {contract.log_file('supervisor')}"]).output
        raise BackendError(f"a service of {container.name} did not start within {timeout_s:.0f} s "
                           f"({log}):\n{(tail or b'').decode(errors='replace').strip()}")


def stop(container: Any) -> None:
    container.exec_run(["sh", "-c", _STOP])

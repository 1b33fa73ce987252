"""Operating running labs on the real engine: graph, capture, link down/up,
impairments, repair after a restart, two copies side by side, destroy --all,
and the orchestrator itself run through Docker Compose.

Every lab here is named t-ops-* and destroyed afterwards; other people's labs
on the same engine are never touched (see test_destroy_all for how --all is
scoped)."""

import io
import shutil
import struct
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator import PROJECT_ROOT, operate, repair
from orchestrator import lab as api
from orchestrator.backend.dockerengine import DockerBackend
from orchestrator.errors import BackendError, LabStateError
from orchestrator.model.specs import Impairment

LAB = """
name: {name}
nodes:
  h1: {{kind: host, interfaces: {{eth0: 10.77.1.10/24}}, gateway: 10.77.1.1}}
  h2: {{kind: host, interfaces: {{eth0: 10.77.2.10/24}}, gateway: 10.77.2.1}}
  r1: {{kind: router, interfaces: {{eth0: 10.77.1.1/24, eth1: 10.77.2.1/24}}}}
  s1: {{kind: switch}}
links:
  - [h1, s1]
  - [r1:eth0, s1]
  - [r1:eth1, h2]
"""
H2 = "10.77.2.10"


def write_lab(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lab.yml").write_text(LAB.format(name=name))
    return folder


def ping(backend, lab, src="h1", dst=H2, count=1, extra=()):
    return backend.exec(lab, src, ["ping", "-n", "-q", "-c", str(count), "-W", "1", *extra, dst])


def rtt_avg(result) -> float:
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("rtt"))
    return float(line.split("=")[1].split("/")[1])


@pytest.fixture(scope="module")
def labs(backend, tmp_path_factory):
    """The same lab file deployed twice: t-ops-a, and a copy under the name t-ops-b."""
    folder = write_lab(tmp_path_factory.mktemp("ops") / "t-ops-a", "t-ops-a")
    for name in ("t-ops-a", "t-ops-b"):
        api.destroy(name, backend=backend)
        api.deploy(folder, name=name, backend=backend)
    yield "t-ops-a", "t-ops-b"
    for name in ("t-ops-a", "t-ops-b"):
        api.destroy(name, backend=backend)


def test_graph_of_a_running_lab(backend, labs):
    lab = labs[0]
    svg = operate.graph(lab, "svg", backend=backend)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    root = ET.fromstring(svg)
    titles = {t.text for g in root.iterfind(".//svg:g[@class='node']", ns) for t in g.iterfind("svg:title", ns)}
    assert titles == {"h1", "h2", "r1", "s1"}
    assert "dashed" not in operate.graph(lab, "dot", backend=backend)
    operate.set_link(lab, "r1", "h2", up=False, backend=backend)
    try:
        dot = operate.graph(lab, "dot", backend=backend)
        edge = next(ln for ln in dot.splitlines() if ln.strip().startswith('"h2" -- "r1"'))
        assert "style=dashed" in edge and "DOWN" in edge
        assert "-.-" in operate.graph(lab, "mermaid", backend=backend)
    finally:
        operate.set_link(lab, "r1", "h2", up=True, backend=backend)


def _pcap_icmp_types(data: bytes) -> list[int]:
    """ICMP types of the Ethernet/IPv4/ICMP frames in a pcap file."""
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    assert linktype == 1  # Ethernet
    types, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        frame = data[off + 16: off + 16 + incl]
        off += 16 + incl
        if struct.unpack("!H", frame[12:14])[0] != 0x0800:
            continue
        ihl = (frame[14] & 0x0F) * 4
        if frame[14 + 9] == 1:  # ICMP
            types.append(frame[14 + ihl])
    return types


def test_capture_during_a_ping_has_echo_request_and_reply(backend, labs):
    lab = labs[0]
    buf = io.BytesIO()
    ready = threading.Event()
    pinged = []
    pinger = threading.Thread(target=lambda: (ready.wait(10), pinged.append(ping(backend, lab, count=2))))
    pinger.start()
    result = operate.capture(lab, "r1", "eth1", pcap_out=buf, count=4, seconds=15, bpf=["icmp"],
                             on_ready=lambda msg: ready.set(), backend=backend)
    pinger.join()
    assert pinged[0].ok, pinged[0].stdout
    assert result.packets == 4 and not result.interrupted
    types = _pcap_icmp_types(buf.getvalue())
    assert types.count(8) == 2 and types.count(0) == 2, types  # echo request, echo reply


def test_capture_text_and_seconds(backend, labs):
    lab = labs[0]
    lines = []
    t0 = time.monotonic()
    result = operate.capture(lab, "h1", "eth0", on_line=lines.append, seconds=1.0, bpf=["udp port 9"],
                             backend=backend)
    assert 0.9 < time.monotonic() - t0 < 8
    assert result.packets == 0 and lines == []
    with pytest.raises(operate.UsageError, match="h1 has no interface 'eth7'"):
        operate.capture(lab, "h1", "eth7", on_line=lines.append, count=1, backend=backend)


def test_link_down_breaks_a_ping_and_up_restores_it(backend, labs):
    lab = labs[0]
    assert ping(backend, lab).ok
    link = operate.set_link(lab, "h2", "r1", up=False, backend=backend)
    assert {str(link.a), str(link.b)} == {"r1:eth1", "h2:eth0"}
    states = {i.name: i.state for i in backend.interfaces(lab, "h2")}
    assert states["eth0"] == "down"
    assert not ping(backend, lab).ok
    operate.set_link(lab, "h2", "r1", up=True, backend=backend)
    assert ping(backend, lab).ok  # the default route of h2, dropped at down, is back


def _netem_available() -> bool:
    name = "t-ops-netem-probe"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        return subprocess.run(["ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root",
                               "netem", "delay", "1ms"], capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def test_delay_of_100ms_shows_in_the_rtt(backend, labs):
    lab = labs[0]
    if not _netem_available():
        operate.impair(lab, "r1:eth1", Impairment(rate_kbit=5000), backend=backend)
        with pytest.raises(BackendError, match="no netem queueing discipline"):
            operate.impair(lab, "r1:eth1", Impairment(delay_ms=100), backend=backend)
        # a failed change keeps what was there
        assert operate.impairments(lab, backend=backend) == {("r1", "eth1"): Impairment(rate_kbit=5000)}
        operate.clear(lab, "r1:eth1", backend=backend)
        pytest.skip("this kernel has no sch_netem (checked: lab impair says so clearly)")
    operate.impair(lab, "r1:eth1", Impairment(delay_ms=100), backend=backend)
    try:
        assert operate.impairments(lab, backend=backend)[("r1", "eth1")].delay_ms == pytest.approx(100, abs=1)
        assert 95 < rtt_avg(ping(backend, lab, count=3, extra=["-i", "0.2"])) < 200
    finally:
        operate.clear(lab, "r1:eth1", backend=backend)
    assert rtt_avg(ping(backend, lab, count=3, extra=["-i", "0.2"])) < 20


def test_rate_limit_shows_in_the_rtt_and_in_status(backend, labs):
    lab = labs[0]
    burst = ["-i", "0.05", "-s", "1000"]
    assert rtt_avg(ping(backend, lab, count=10, extra=burst)) < 20
    node, iface, kind = operate.impair(lab, "r1:eth1", Impairment(rate_kbit=100), backend=backend)
    try:
        assert (node, iface, kind) == ("r1", "eth1", "tbf")
        assert operate.impairments(lab, backend=backend) == {("r1", "eth1"): Impairment(rate_kbit=100)}
        assert "rate 100kbit" in operate.graph(lab, "dot", backend=backend)
        # 1028-byte frames take 82 ms each at 100 kbit/s; sent every 20 ms they queue up
        assert rtt_avg(ping(backend, lab, count=20, extra=["-i", "0.02", "-s", "1000"])) > 60
    finally:
        assert operate.clear(lab, "r1:eth1", backend=backend)[2] is True
    assert operate.impairments(lab, backend=backend) == {}
    assert operate.clear(lab, "r1:eth1", backend=backend)[2] is False


def test_repair_after_a_router_restart(backend, labs):
    lab = labs[0]
    assert repair.needs_repair(lab, backend=backend) == {}
    backend.client.containers.get(f"labnet-{lab}-r1").restart(timeout=1)
    assert not ping(backend, lab).ok
    broken = repair.needs_repair(lab, backend=backend)
    assert "eth0, eth1" in str(broken["r1"]) and set(broken) == {"r1", "s1", "h2"}
    result = repair.repair(lab, backend=backend)
    assert result.repaired == ["r1"] and result.reconfigured == ["h2", "r1", "s1"]
    assert repair.needs_repair(lab, backend=backend) == {}
    assert ping(backend, lab).ok
    assert ping(backend, labs[1]).ok  # the copy was never touched


def test_two_copies_of_a_lab_do_not_see_each_other(backend, labs):
    a, b = labs
    names_a = {s.container for s in backend.nodes(a)}
    names_b = {s.container for s in backend.nodes(b)}
    assert len(names_a) == len(names_b) == 4 and not names_a & names_b
    pids_a = {s.pid for s in backend.nodes(a)}
    assert not pids_a & {s.pid for s in backend.nodes(b)}
    # same addresses, same interface names, different namespaces
    assert [i.addresses for i in backend.interfaces(a, "h2")] == [i.addresses for i in backend.interfaces(b, "h2")]
    lines = []
    stop = threading.Event()

    def ping_in_a():
        while not stop.is_set():
            ping(backend, a)

    worker = threading.Thread(target=ping_in_a)
    worker.start()
    try:
        seen_in_b = operate.capture(b, "r1", "eth1", on_line=lines.append, seconds=2, bpf=["icmp"],
                                    backend=backend)
    finally:
        stop.set()
        worker.join()
    assert seen_in_b.packets == 0 and lines == []
    assert ping(backend, b).ok


class ScopedBackend(DockerBackend):
    """The real engine, but list_labs only shows labs named t-ops-all-*: other
    people run labs on this engine, and `destroy --all` must not hit theirs
    in a test. What is exercised for real: the label lookup, then a destroy
    of each lab it lists; a bystander container proves nothing else goes."""

    def list_labs(self):
        return [s for s in super().list_labs() if s.name.startswith("t-ops-all-")]


def test_destroy_all(backend, labs, tmp_path):
    scoped = ScopedBackend(backend.client)
    one = """
name: {name}
nodes:
  x: {{kind: host, interfaces: {{eth0: 10.78.0.1/24}}}}
  y: {{kind: host, interfaces: {{eth0: 10.78.0.2/24}}}}
links: [[x, y]]
"""
    from orchestrator.backend.images import wanted_tags
    for old in backend.client.containers.list(all=True, filters={"name": "^/t-ops-bystander$"}):
        old.remove(force=True)
    bystander = backend.client.containers.run(wanted_tags().node, name="t-ops-bystander",
                                              network_mode="none", detach=True, init=True)
    try:
        for name in ("t-ops-all-1", "t-ops-all-2"):
            (tmp_path / name).mkdir()
            (tmp_path / name / "lab.yml").write_text(one.format(name=name))
            api.deploy(tmp_path / name, backend=backend)
        assert api.destroy_all(scoped) == {"t-ops-all-1": 2, "t-ops-all-2": 2}
        remaining = {s.name for s in backend.list_labs()}
        assert not {"t-ops-all-1", "t-ops-all-2"} & remaining
        assert set(labs) <= remaining
        bystander.reload()
        assert bystander.status == "running"
        assert api.destroy_all(scoped) == {}
    finally:
        bystander.remove(force=True)
        for name in ("t-ops-all-1", "t-ops-all-2"):
            api.destroy(name, backend=backend)


def test_deploy_and_destroy_through_compose(backend, tmp_path):
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is needed (apt-get install docker-compose)"
    build = subprocess.run([str(PROJECT_ROOT / "compose" / "build.sh")], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    write_lab(tmp_path / "lab", "t-ops-compose")
    cmd = [compose, "-f", str(PROJECT_ROOT / "compose" / "docker-compose.yml"), "run", "--rm", "lab"]
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PWD": str(tmp_path)}
    try:
        up = subprocess.run([*cmd, "deploy", "lab", "--ping"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "lab t-ops-compose is up" in up.stdout and "2/2 pairs reachable" in up.stdout
        # the host sees the same lab, with the same lab file path
        assert ping(backend, "t-ops-compose").ok
        assert repair.needs_repair("t-ops-compose", backend=backend) == {}
        down = subprocess.run([*cmd, "destroy", "t-ops-compose"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
        assert "removed 4 nodes" in down.stdout
        assert backend.nodes("t-ops-compose") == []
    finally:
        api.destroy("t-ops-compose", backend=backend)
    # compose made no network (the engine's networks are the built-in ones)
    assert {n.name for n in backend.client.networks.list()} <= {"none", "host", "bridge"}


def test_logs(backend, labs):
    lab = labs[1]
    with pytest.raises(LabStateError, match="h1 has no logs under /var/log/labnet"):
        operate.logs(lab, "h1", on_text=print, backend=backend)
    backend.exec(lab, "h1", ["sh", "-c", "mkdir -p /var/log/labnet && echo 'web up' > /var/log/labnet/web.log"
                                         " && echo 'started web' > /var/log/labnet/supervisor.log"])
    assert operate.list_logs(lab, "h1", backend=backend) == [("supervisor", 12), ("web", 7)]
    out = []
    operate.logs(lab, "h1", "web", on_text=out.append, backend=backend)
    assert "".join(out) == "web up\n"
    out.clear()
    operate.logs(lab, "h1", on_text=out.append, backend=backend)
    text = "".join(out)
    assert "==> /var/log/labnet/supervisor.log <==\nstarted web" in text and "web up" in text
    with pytest.raises(operate.UsageError, match=r"no log for 'dns' \(its logs: supervisor, web\)"):
        operate.logs(lab, "h1", "dns", on_text=out.append, backend=backend)

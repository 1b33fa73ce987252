"""Shared setup for the DHCP tests: import path, the netns marker, and
`Netlab`, throw-away namespaces (dhcpt<tag>-<role>) joined by veth pairs and
bridges, with our server or relay in some and real Debian clients
(dhclient from isc-dhcp-client, udhcpc) in others.  Everything is removed,
and every process it started killed, at teardown."""
from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

sys.dont_write_bytecode = True  # keep images/node free of __pycache__ (it is the image's build context)
NODE = pathlib.Path(__file__).resolve().parents[3] / "images" / "node"
DAEMONS = pathlib.Path(__file__).resolve().parents[1]
for path in (str(NODE), str(DAEMONS)):
    if path not in sys.path:
        sys.path.insert(0, path)

from daemon_helpers import Proc  # noqa: E402

PREFIX = "dhcpt"
TOOLS = {"dhclient": "isc-dhcp-client", "udhcpc": "udhcpc", "ip": "iproute2"}

# The client script dhclient runs (-sf) and udhcpc runs (-s): it records what
# the client received, one KEY=VALUE a line, in <client dir>/<reason>, and installs
# the address, mask and default route itself.  It writes the DNS servers to
# <client dir>/resolv.conf, never to /etc/resolv.conf (the host's: `ip netns exec`
# shares the file system).
CLIENT_SCRIPT = r"""#!/bin/sh
# dhclient: $reason, $interface, $new_ip_address, $new_subnet_mask, $new_routers ...
# udhcpc:   $1 (deconfig, bound, renew, leasefail), $interface, $ip, $mask, $router ...
out="@OUT@"  # written in by Client (dhclient gives its script a clean environment)
if [ -n "$1" ]; then reason="udhcpc-$1"; fi
env | sort > "$out/$reason"
case "$reason" in
  PREINIT|udhcpc-deconfig)
    ip link set dev "$interface" up
    ip -4 addr flush dev "$interface" ;;
  BOUND|RENEW|REBIND|REBOOT)
    ip -4 addr flush dev "$interface"
    ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface"
    for r in $new_routers; do ip route replace default via "$r" dev "$interface"; break; done
    : > "$out/resolv.conf"
    [ -n "$new_domain_name" ] && echo "search $new_domain_name" >> "$out/resolv.conf"
    for d in $new_domain_name_servers; do echo "nameserver $d" >> "$out/resolv.conf"; done ;;
  udhcpc-bound|udhcpc-renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    : > "$out/resolv.conf"
    [ -n "$domain" ] && echo "search $domain" >> "$out/resolv.conf"
    for d in $dns; do echo "nameserver $d" >> "$out/resolv.conf"; done ;;
  EXPIRE|FAIL|RELEASE|STOP)
    ip -4 addr flush dev "$interface" ;;
esac
exit 0
"""

DHCLIENT_CONF = """# dhclient.conf for the tests: one quick try
timeout 20;
retry 1;
initial-interval 1;
request subnet-mask, routers, domain-name, domain-name-servers, host-name;
"""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "netns: needs root and `ip netns`; runs real daemons in throw-away network namespaces")


def netns_reason() -> str | None:
    """None if namespaces can be used here, else why not (the tests skip)."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    return None


def need_tools(*names: str) -> None:
    """Fail (not skip) when a client the test needs is not installed."""
    for name in names:
        if shutil.which(name) is None and not os.path.exists(f"/usr/sbin/{name}"):
            pytest.fail(f"{name} is not installed: apt-get install {TOOLS.get(name, name)}")


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


class Client:
    """One DHCP client (dhclient or udhcpc) in a namespace, with its files."""

    def __init__(self, lab: Netlab, role: str, iface: str, kind: str) -> None:
        self.lab, self.role, self.iface, self.kind = lab, role, iface, kind
        self.dir = lab.workdir / f"client-{role}-{iface}"
        self.dir.mkdir(exist_ok=True)
        self.script = self.dir / "script.sh"
        self.script.write_text(CLIENT_SCRIPT.replace("@OUT@", str(self.dir)))
        self.script.chmod(0o755)
        (self.dir / "dhclient.conf").write_text(DHCLIENT_CONF)
        self.pidfile = self.dir / "pid"
        self.result: subprocess.CompletedProcess | None = None

    def argv(self, *extra: str) -> list[str]:
        if self.kind == "dhclient":
            return ["dhclient", "-1", "-v", "-cf", str(self.dir / "dhclient.conf"),
                    "-sf", str(self.script), "-pf", str(self.pidfile),
                    "-lf", str(self.dir / "leases"), *extra, self.iface]
        return ["udhcpc", "-i", self.iface, "-f", "-q", "-n", "-t", "5", "-T", "2",
                "-s", str(self.script), *extra]

    def get(self, timeout: float = 40) -> subprocess.CompletedProcess:
        """Run the client until it holds a lease (dhclient then stays in the
        background, udhcpc quits); the completed process."""
        self.result = subprocess.run(self.lab.netns(self.role, self.argv()), capture_output=True,
                                     text=True, timeout=timeout)
        return self.result

    def release(self) -> subprocess.CompletedProcess:
        """dhclient -r: RELEASE the lease and stop the background dhclient."""
        return subprocess.run(self.lab.netns(self.role, self.argv("-r")), capture_output=True,
                              text=True, timeout=30)

    def received(self, reason: str) -> dict[str, str]:
        """The variables the client script got for `reason` (BOUND, udhcpc-bound...)."""
        path = self.dir / reason
        if not path.exists():
            return {}
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)

    def addresses(self) -> list[str]:
        data = json.loads(self.lab.ip(self.role, "-j", "-4", "addr", "show", "dev", self.iface))
        return [f"{a['local']}/{a['prefixlen']}" for link in data for a in link.get("addr_info", [])]

    def default_route(self) -> str:
        return self.lab.ip(self.role, "-4", "route", "show", "default").strip()

    def stop(self) -> None:
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


class Netlab:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"{PREFIX}{self.tag}-"))
        self.namespaces: list[str] = []
        self.procs: list[Proc] = []
        self.clients: list[Client] = []
        self.veths = 0

    def ns(self, role: str) -> str:
        return f"{PREFIX}{self.tag}-{role}"

    def netns(self, role: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(role), *argv]

    def ip(self, role: str, *args: str) -> str:
        return sh("ip", "-n", self.ns(role), *args).stdout

    def add(self, *roles: str) -> None:
        for role in roles:
            sh("ip", "netns", "add", self.ns(role))
            self.namespaces.append(self.ns(role))
            self.ip(role, "link", "set", "lo", "up")

    def link(self, a: str, a_if: str, b: str, b_if: str) -> None:
        """A veth pair: a_if in namespace a, b_if in b, both up."""
        sh("ip", "link", "add", a_if, "netns", self.ns(a), "type", "veth",
           "peer", "name", b_if, "netns", self.ns(b))
        self.ip(a, "link", "set", a_if, "up")
        self.ip(b, "link", "set", b_if, "up")

    def bridge(self, role: str, name: str = "br0") -> None:
        self.ip(role, "link", "add", name, "type", "bridge", "forward_delay", "0")
        self.ip(role, "link", "set", name, "up")

    def plug(self, role: str, iface: str, switch: str, bridge: str = "br0", mac: str | None = None) -> None:
        """A veth from `role` (named iface) into the bridge of namespace `switch`."""
        self.veths += 1
        port = f"p{self.veths}"
        self.link(role, iface, switch, port)
        self.ip(switch, "link", "set", port, "master", bridge)
        if mac:
            self.ip(role, "link", "set", iface, "address", mac)

    def addr(self, role: str, iface: str, cidr: str) -> None:
        self.ip(role, "addr", "add", cidr, "dev", iface)

    def write(self, name: str, data) -> str:
        path = self.workdir / name
        path.write_text(json.dumps(data) if not isinstance(data, str) else data)
        return str(path)

    def start(self, role: str, module: str, config: dict, ready: int = 1) -> Proc:
        """python3 -m labnode.dhcp.<module> --config <file> in namespace `role`."""
        path = self.write(f"{module}-{role}.json", config)
        proc = Proc(self.netns(role, [sys.executable, "-m", f"labnode.dhcp.{module}", "--config", path]))
        self.procs.append(proc)
        for _ in range(ready):
            proc.wait_for(r"listening on", timeout=10)
        return proc

    def client(self, role: str, iface: str = "eth0", kind: str = "dhclient") -> Client:
        need_tools(kind)
        client = Client(self, role, iface, kind)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.stop()
        for proc in self.procs:
            proc.stop()
        time.sleep(0.1)
        for name in self.namespaces:
            for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", name, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def netlab():
    reason = netns_reason()
    if reason:
        pytest.skip(reason)
    need_tools("ip")
    lab = Netlab()
    try:
        yield lab
    finally:
        lab.close()

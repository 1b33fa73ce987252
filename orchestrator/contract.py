"""The node contract: what the orchestrator and the programs inside a node
(images/node/labnode/) agree on — paths, file formats, the readiness signal,
the command lines that start the in-node programs, the routing daemon's
timer defaults. This is their one home on the orchestrator's side;
tests/unit/test_contract.py feeds what is rendered here through the in-node
parsers and compares the in-node defaults with these, so the two sides
cannot drift.

Standard library only, and cheap to import: the backend uses it too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plan import PlanDaemon, PlanService, PlanStack

# --- paths inside every node ---------------------------------------------------
CONFIG_DIR = "/etc/labnet"
SETUP_SCRIPT = f"{CONFIG_DIR}/setup.sh"          # interfaces, routes, rules; safe to run again
HOSTS_FILE = "/etc/hosts"                        # the lab's names; written by the backend, not copied in
RESOLV_FILE = "/etc/resolv.conf"                 # the lab's resolver (or none); written by the backend too
NODE_FILE = f"{CONFIG_DIR}/node.json"            # the node's own part of the plan, for reading
SERVICES_CONFIG = f"{CONFIG_DIR}/services.json"  # the supervisor's config (labnode/svconfig.py)
ROUTING_CONFIG = f"{CONFIG_DIR}/routing.json"    # the routing daemon's (labnode/routing/config.py)
ROUTER_NAMES = f"{CONFIG_DIR}/routers.json"      # router ids and addresses -> node names, for lab-routed's tables
NFT_RULESET = f"{CONFIG_DIR}/nftables.nft"       # firewall and NAT, loaded by the setup script
LOG_DIR = "/var/log/labnet"                      # one <service>.log each, and supervisor.log
SERVICE_ROOT = "/srv"                            # folders served by http services: /srv/<name>
SUPERVISOR_PIDFILE = "/run/labnet-supervisor.pid"
STATUS_FILE = f"{LOG_DIR}/status.json"           # the supervisor's view of its services
STACK_CONFIG = f"{CONFIG_DIR}/stack.json"        # a user-space stack's (labnode/stack/config.py)
DNS_CONFIG = f"{CONFIG_DIR}/dns.json"            # a dns service's zones and resolver (labnode/dns/server.py)
DHCP_CONFIG = f"{CONFIG_DIR}/dhcp.json"          # a dhcp service's pools (labnode/dhcp/server.py)
DHCP_RELAY_CONFIG = f"{CONFIG_DIR}/dhcp-relay.json"  # a router's relay (labnode/dhcp/relay.py)
DHCP_LEASES = "/run/labnet/dhcp-leases.json"     # the dhcp server's lease table (its default)
STACK_SOCKET = "/run/labnet-stack.sock"          # its control socket (the stack's default)
TUN_DEVICE = "/dev/net/tun"                      # what a user-space stack opens its TAP with

#: what a service prints on its log once it accepts connections
READY_LINE = "listening on"

# --- programs ------------------------------------------------------------------
PYTHON = "python3"
SUPERVISOR_MODULE = "labnode.supervisor"
SUPERVISOR_ARGV = [PYTHON, "-m", SUPERVISOR_MODULE, "--config", SERVICES_CONFIG,
                   "--logdir", LOG_DIR, "--pidfile", SUPERVISOR_PIDFILE]
#: the command line of the routing daemon, run by the supervisor of a dynamic router
ROUTING_ARGV = [PYTHON, "-m", "labnode.routing", "--config", ROUTING_CONFIG]
ROUTING_CLI_ARGV = [PYTHON, "-m", "labnode.routing.cli"]
#: how often a router's IPv6 advertisement sender (service type "ra": labnode.radvd) advertises,
#: in seconds (RFC 4861 says minutes; a lab wants to see them)
RA_INTERVAL = 10
PROBE_ARGV = [PYTHON, "-m", "labnode.probe"]
CHAT_CLIENT_ARGV = [PYTHON, "-m", "labnode.chat_client"]
#: the name the routing daemon runs under (its log is LOG_DIR/routed.log)
ROUTING_SERVICE = "routed"
#: a user-space stack host's one supervised program (its log is LOG_DIR/stack.log)
STACK_SERVICE = "stack"
STACK_CLI_ARGV = [PYTHON, "-m", "labnode.stack.cli"]
STACK_GET_ARGV = [PYTHON, "-m", "labnode.stack.get"]
DHCP_LEASES_ARGV = [PYTHON, "-m", "labnode.dhcp.cli", "leases", "--json"]
#: a host's DHCP client for one interface, run by its supervisor as the service dhcp-IFACE
DHCP_CLIENT = "lab-dhclient"
DHCP_RELAY_SERVICE = "dhcp-relay"


def dhcp_client_service(iface: str) -> str:
    return f"dhcp-{iface}"

#: the routing daemon's timers when the lab file gives none (seconds)
HELLO_INTERVAL = 0.2
DEAD_INTERVAL = 0.8


#: the files the backend writes itself (the engine keeps them), not copied in with the others
ENGINE_FILES = (HOSTS_FILE, RESOLV_FILE)

#: the files of one node: path inside the node -> content (orchestrator.render.files makes them)
NodeFiles = dict[str, str]


def log_file(service: str) -> str:
    return f"{LOG_DIR}/{service}.log"


#: prints "alive" or "dead" (the supervisor), then the supervisor's status.json
HEALTH_ARGV = ["sh", "-c", f"p=$(cat {SUPERVISOR_PIDFILE} 2>/dev/null); "
               f"if [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null; then echo alive; else echo dead; fi; "
               f"cat {STATUS_FILE} 2>/dev/null; true"]


def parse_health(output: str) -> tuple[bool, dict[str, str]]:
    """HEALTH_ARGV's output -> (is the supervisor alive, service -> its state:
    running, starting, backoff, failed, stopped)."""
    head, _, rest = output.partition("\n")
    try:
        status = json.loads(rest) if rest.strip() else {}
        services = {str(name): str(info.get("state", "?")) for name, info in status.get("services", {}).items()}
    except (ValueError, AttributeError):
        services = {}
    return head.strip() == "alive", services


# --- file formats ----------------------------------------------------------------
def services_document(services: list[PlanService]) -> dict[str, Any]:
    """The supervisor's config: {"services": [{name, type, args | command}]}."""
    entries: list[dict[str, Any]] = []
    for svc in services:
        entry: dict[str, Any] = {"name": svc.name, "type": svc.type}
        if svc.command:
            entry["command"] = svc.command
        else:
            entry["args"] = svc.args
        entries.append(entry)
    return {"services": entries}


def stack_document(stack: PlanStack) -> dict[str, Any]:
    """A user-space stack's config: its TAP, MAC, address, gateway, routes, apps, loss knob."""
    doc: dict[str, Any] = {"tap": stack.tap, "mac": stack.mac, "address": stack.address}
    if stack.gateway:
        doc["gateway"] = stack.gateway
    if stack.routes:
        doc["routes"] = stack.routes
    apps = []
    for app in stack.apps:
        entry: dict[str, Any] = {"type": STACK_APP_TYPES[app.type], "port": app.port}
        if app.files_to:
            entry["root"] = app.files_to
        apps.append(entry)
    doc["apps"] = apps
    if stack.loss:
        doc["loss"] = stack.loss
    doc["control_socket"] = STACK_SOCKET
    return doc


#: service types a user-space stack host may run -> the stack's app types
STACK_APP_TYPES = {"http": "http", "select": "echo", "udp-echo": "udp-echo"}


def routing_document(daemon: PlanDaemon) -> dict[str, Any]:
    """The routing daemon's config: router_id, interfaces, prefixes (and
    prefixes6 with IPv6), timers, key."""
    document = daemon.model_dump()
    if not document["prefixes6"]:
        del document["prefixes6"]
    return document


def dump(document: dict[str, Any]) -> str:
    """How every JSON file of the contract is written."""
    return json.dumps(document, indent=2) + "\n"

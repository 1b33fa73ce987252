"""What people reach for every day, on the in-memory backend: one command in
several nodes, the one-screen status, lab names suggested for typos, routes
on nodes with no routing daemon, chat's default nick, images list and prune,
one message on Ctrl-C, and shell completion."""

import json

import pytest
from click.testing import CliRunner

from orchestrator import lab as api
from orchestrator import operate, status
from orchestrator.backend.protocol import ExecResult, ImageInfo, not_deployed
from orchestrator.cli import complete, main
from orchestrator.errors import LabStateError, UsageError
from orchestrator.model.specs import Impairment
from tests.conftest import LABS
from tests.unit.fakebackend import FakeBackend

TINY = """
name: tiny
nodes:
  pc1: {kind: host}
  r1: {kind: router}
  pc2: {kind: host}
links:
  - {a: pc1, b: r1, prefix: 10.0.1.0/24, impair: {delay: 20ms}}
  - {a: r1, b: pc2, prefix: 10.0.2.0/24}
"""

KERNEL_ROUTES = [{"dst": "default", "gateway": "192.168.1.1", "dev": "eth0", "flags": []},
                 {"dst": "192.168.1.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link",
                  "prefsrc": "192.168.1.10", "flags": []}]


@pytest.fixture
def fake(monkeypatch):
    """A fake engine every facade (and so every command) uses."""
    backend = FakeBackend()
    monkeypatch.setattr(api, "default_backend", lambda: backend)
    monkeypatch.setattr(api, "default_images", lambda: backend)
    return backend


def deploy(fake, lab, name=None):
    return api.deploy(LABS / lab, name=name, backend=fake).plan


def lab_cmd(*args):
    return CliRunner().invoke(main, list(args))


def hostname_handler(node, argv):
    if argv == ["hostname"]:
        return ExecResult(0, f"{node}\n", "")
    if argv[:2] == ["sh", "-c"] and argv[2].startswith("exit"):
        return ExecResult(int(argv[2].split()[1]) if node == "r1" else 0, "", "bad\n" if node == "r1" else "")
    return None


# --- lab exec over several nodes -------------------------------------------------------------
def test_exec_many_runs_in_the_chosen_nodes_in_node_order(fake):
    deploy(fake, "one-router", "ux")
    fake.exec_handlers.append(hostname_handler)
    everyone = operate.exec_many("ux", ["hostname"], backend=fake)
    assert [r.node for r in everyone] == ["left", "pc1", "pc2", "pc3", "pc4", "r1", "right"]
    assert all(r.ok and r.stdout == f"{r.node}\n" for r in everyone)
    routers = operate.exec_many("ux", ["hostname"], kind="router", backend=fake)
    assert [(r.node, r.exit_code, r.stdout) for r in routers] == [("r1", 0, "r1\n")]
    named = operate.exec_many("ux", ["hostname"], nodes=["r1", "pc3"], backend=fake)
    assert [r.node for r in named] == ["pc3", "r1"]


def test_exec_many_reports_a_stopped_node_and_runs_the_others(fake):
    deploy(fake, "one-router", "ux")
    fake.stop("ux", "pc2")
    got = {r.node: r for r in operate.exec_many("ux", ["true"], kind="host", backend=fake)}
    assert got["pc2"].exit_code is None and not got["pc2"].ok
    assert got["pc2"].error == "pc2 is exited, not running (start it again with: lab repair ux)"
    assert all(got[n].ok for n in ("pc1", "pc3", "pc4"))


def test_exec_many_names_unknown_nodes_and_kinds(fake):
    deploy(fake, "two-pcs", "ux")
    with pytest.raises(UsageError, match=r"lab 'ux' has no node 'pc11'; did you mean 'pc1'\? \(its nodes: pc1, pc2\)"):
        operate.exec_many("ux", ["true"], nodes=["pc1", "pc11"], backend=fake)
    with pytest.raises(UsageError, match=r"lab 'ux' has no router \(its kinds: host\)"):
        operate.exec_many("ux", ["true"], kind="router", backend=fake)


def test_cli_exec_all_groups_output_per_node_and_fails_if_any_failed(fake):
    deploy(fake, "one-router", "ux")
    fake.exec_handlers.append(hostname_handler)
    ok = lab_cmd("exec", "ux", "--kind", "host", "--", "hostname")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.splitlines() == ["=== pc1: exit 0 ===", "pc1", "=== pc2: exit 0 ===", "pc2",
                                      "=== pc3: exit 0 ===", "pc3", "=== pc4: exit 0 ===", "pc4", "4/4 nodes ok"]
    bad = lab_cmd("exec", "ux", "--nodes", "pc1,r1", "--", "sh", "-c", "exit 3")
    assert bad.exit_code == 1
    assert "=== r1: exit 3 ===" in bad.stdout and "bad" in bad.stderr
    assert bad.stdout.splitlines()[-1] == "1/2 nodes ok; failed: r1 (exit 3)"


def test_cli_exec_json_gives_one_entry_per_node(fake):
    deploy(fake, "one-router", "ux")
    fake.exec_handlers.append(hostname_handler)
    got = lab_cmd("exec", "ux", "--nodes", "r1,pc1", "--json", "--", "hostname")
    assert got.exit_code == 0
    assert json.loads(got.stdout) == [
        {"node": "pc1", "exit_code": 0, "stdout": "pc1\n", "stderr": "", "error": None},
        {"node": "r1", "exit_code": 0, "stdout": "r1\n", "stderr": "", "error": None}]
    one = lab_cmd("--json", "exec", "ux", "r1", "--", "hostname")
    assert [e["node"] for e in json.loads(one.stdout)] == ["r1"]


def test_cli_exec_in_one_node_relays_its_output_and_exit_code(fake):
    deploy(fake, "one-router", "ux")
    fake.exec_handlers.append(lambda node, argv: ExecResult(4, "out\n", "err\n") if argv == ["x"] else None)
    got = lab_cmd("exec", "ux", "pc1", "--", "x")
    assert (got.exit_code, got.stdout, got.stderr) == (4, "out\n", "err\n")


def test_cli_exec_options_are_read_before_node_only(fake):
    deploy(fake, "one-router", "ux")
    fake.exec_handlers.append(hostname_handler)
    mine = lab_cmd("exec", "ux", "pc1", "ls", "--all", "--json")   # the command's own options
    assert mine.exit_code == 0 and fake.execs[-1] == ("pc1", ["ls", "--all", "--json"])
    assert len([e for e in fake.execs if e[1][0] == "ls"]) == 1
    for args in (["exec", "--kind", "router", "ux", "--", "hostname"], ["exec", "ux", "--kind=router", "hostname"]):
        got = lab_cmd(*args)
        assert got.exit_code == 0 and got.stdout.splitlines()[0] == "=== r1: exit 0 ===", args


def test_cli_exec_usage_errors(fake):
    deploy(fake, "two-pcs", "ux")
    both = lab_cmd("exec", "ux", "--all", "--kind", "host", "--", "true")
    assert both.exit_code == 2 and "choose the nodes one way: --all or --kind" in both.output
    nothing = lab_cmd("exec", "ux", "--all")
    assert nothing.exit_code == 2 and "say what to run" in nothing.output
    kind = lab_cmd("exec", "ux", "--kind", "server", "--", "true")
    assert kind.exit_code == 2 and "--kind 'server': choose host, router or switch" in kind.output


# --- lab names suggested ---------------------------------------------------------------------------
def test_a_mistyped_lab_name_gets_the_nearest_deployed_one(fake):
    deploy(fake, "one-router", "ux-ring")
    deploy(fake, "two-pcs", "other")
    with pytest.raises(LabStateError) as info:
        api.attach("ux-rng", fake)
    assert str(info.value) == "lab 'ux-rng' is not deployed; did you mean 'ux-ring'?"
    for args in (["status", "ux-rng"], ["status", "ux-rng", "--wide"], ["ping", "ux-rng"],
                 ["exec", "ux-rng", "--all", "--", "true"], ["routes", "ux-rng", "r1"], ["test", "ux-rng"]):
        got = lab_cmd(*args)
        assert got.exit_code == 1 and "lab 'ux-rng' is not deployed; did you mean 'ux-ring'?" in got.output, args
    gone = lab_cmd("destroy", "ux-rng")
    assert gone.exit_code == 0 and "nothing of 'ux-rng' was running; did you mean 'ux-ring'?" in gone.output


def test_not_deployed_without_a_close_name_lists_the_deployed_labs():
    assert str(not_deployed("zzz", ["five", "ux-ring"])) == \
        "lab 'zzz' is not deployed (deployed: five, ux-ring; see: lab status)"
    assert str(not_deployed("zzz", [])) == "lab 'zzz' is not deployed (no lab is deployed; see: lab deploy PATH)"


# --- lab status --wide ---------------------------------------------------------------------------
def test_status_wide_shows_each_node_with_plan_and_live_state(fake):
    deploy(fake, "services", "svc")
    fake.node("svc", "srv").service_states["chat"] = "backoff"
    operate.impair("svc", "r1:eth1", Impairment(delay_ms=50), fake)
    fake.set_link_state("svc", "r2", "eth1", up=False)
    got = status.wide_status("svc", fake)
    by = {n.node: n for n in got.nodes}
    assert (got.state, got.routing) == ("up", "computed") and got.source.endswith("labs/services/lab.yml")
    assert by["pc1"].gateway == "192.168.1.1 (eth0)" and by["pc1"].health == "ok"
    assert {s.name: s.state for s in by["srv"].services} == {"http": "running", "select": "running",
                                                             "chat": "backoff", "udp-echo": "running"}
    assert by["srv"].health == "service not running: chat"
    r1 = {i.name: i for i in by["r1"].interfaces}
    assert (r1["eth1"].impairment, r1["eth1"].peer, r1["eth1"].addresses) == ("delay 50ms", "r2:eth1", ["10.0.0.1/30"])
    assert {i.name: i.state for i in by["r2"].interfaces}["eth1"] == "down"


def test_status_wide_text_reads_in_80_columns(fake):
    deploy(fake, "services", "svc")
    fake.restart("svc", "pc2")
    got = lab_cmd("status", "svc", "--wide")
    assert got.exit_code == 0, got.output
    lines = got.stdout.splitlines()
    assert lines[0] == "lab svc: up, 7 nodes (7 running), routing computed"
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    text = got.stdout
    assert "    eth0  up  192.168.1.10/24  -> clients:eth1" in text
    assert "    gateway 192.168.1.1 (eth0)" in text
    assert ("    services: http:80 running, select:6000 running, chat:5000 running,\n"
            "      udp-echo:7 running\n") in text
    assert "NEEDS REPAIR: interfaces missing: eth0" in text    # pc2, restarted: it lost its link
    assert "    eth0  missing  -  -> clients:eth2" in text
    assert "run 'lab repair svc' to re-create what is missing" in text


def test_status_wide_json(fake):
    deploy(fake, "two-pcs", "ux")
    fake.remove("ux", "pc2")
    data = json.loads(lab_cmd("status", "ux", "--wide", "--json").stdout)
    assert set(data) == {"lab", "state", "routing", "source", "deployed_at", "drift", "advice", "nodes"}
    pcs = {n["node"]: n for n in data["nodes"]}
    assert pcs["pc2"]["state"] == "gone" and "redeploy" in pcs["pc2"]["health"]
    assert set(pcs["pc1"]["interfaces"][0]) == {"name", "state", "addresses", "peer", "master", "oper", "impairment"}


# --- lab routes on a node with no routing daemon ---------------------------------------------------
def kernel_routes(node, argv):
    return ExecResult(0, json.dumps(KERNEL_ROUTES), "") if argv == operate.KERNEL_ROUTES_ARGV else None


def test_routes_without_a_daemon_show_the_kernel_routes(fake):
    deploy(fake, "one-router", "ux")
    fake.exec_handlers.append(kernel_routes)
    got = lab_cmd("routes", "ux", "pc1")
    assert got.exit_code == 0, got.output
    assert got.stdout == ("this lab uses routing: static; pc1's routes:\n"
                          "default via 192.168.1.1 dev eth0\n"
                          "192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.10\n")
    data = json.loads(lab_cmd("routes", "ux", "pc1", "--json").stdout)
    assert (data["source"], data["routing"], data["routes"]) == ("kernel", "static", KERNEL_ROUTES)
    nb = lab_cmd("routes", "ux", "r1", "neighbors")
    assert nb.exit_code == 1
    assert "r1 runs no routing daemon (this lab uses routing: static), so it has no neighbors" in nb.output


def test_routes_ask_the_daemon_where_there_is_one_and_fall_back_when_it_is_silent(fake):
    deploy(fake, "dijkstra-mesh", "mesh")
    router = next(n for n, p in fake.plans["mesh"].nodes.items() if p.daemon is not None)
    answers = {"ok": True}

    def daemon(node, argv):
        if argv[:len(operate.routes_argv("routes", False))] == operate.routes_argv("routes", False):
            if answers["ok"]:
                return ExecResult(0, '{"routes": []}\n' if "--json" in argv else "no routes yet\n", "")
            return ExecResult(1, "", "error: cannot reach the daemon at /run/labnet/routed.sock\n")
        return kernel_routes(node, argv)

    fake.exec_handlers.append(daemon)
    assert operate.routes("mesh", router, backend=fake).text == "no routes yet\n"
    assert operate.routes("mesh", router, as_json=True, backend=fake).data == {"routes": []}
    answers["ok"] = False
    got = operate.routes("mesh", router, backend=fake)
    assert got.source == "kernel" and got.note.startswith(f"the routing daemon of {router} does not answer "
                                                          "(error: cannot reach the daemon")
    with pytest.raises(UsageError, match="has no node 'r99'"):
        operate.routes("mesh", "r99", backend=fake)


# --- lab chat --------------------------------------------------------------------------------------
def test_chat_nick_defaults_to_the_clients_own_the_host_name(fake):
    deploy(fake, "services", "svc")
    argv = operate.chat_argv("svc", "pc1", backend=fake)
    assert "--nick" not in argv and argv[-3:] == ["srv", "--port", "5000"]
    assert operate.chat_argv("svc", "pc1", "alice", backend=fake)[-2:] == ["--nick", "alice"]


# --- lab images list / prune -----------------------------------------------------------------------
def image(tag, role="node", current=False, labs=(), created="2026-12-01T10:00:00Z", size=175_000_000):
    return ImageInfo(id=tag[-12:], role=role, tags=[tag], recipe=tag.partition(":")[2], size=size,
                     created=created, current=current, labs=list(labs))


def test_images_list_says_which_labs_use_what_and_what_is_stale(fake):
    fake.image_infos = [image("labnet/node:aaaaaaaaaaaa", current=True, labs=["five", "ux"]),
                        image("labnet/node:bbbbbbbbbbbb", created="2026-11-30T09:00:00Z"),
                        image("labnet/base:cccccccccccc", role="base", current=True)]
    got = lab_cmd("images", "list")
    assert got.exit_code == 0
    lines = got.stdout.splitlines()
    assert lines[0].split() == ["ROLE", "IMAGE", "RECIPE", "SIZE", "CREATED", "IN", "USE", "BY"]
    assert lines[1].split() == ["node", "labnet/node", "aaaaaaaaaaaa", "175", "MB", "2026-12-01", "10:00",
                                "current;", "five,", "ux"]
    assert lines[2].endswith("stale") and lines[3].endswith("current")
    assert lines[-1] == "1 stale image (175 MB): remove with 'lab images prune'"
    assert all(len(line) <= 80 for line in lines)


def test_images_prune_removes_only_stale_unused_images(fake):
    fake.image_infos = [image("labnet/node:aaaaaaaaaaaa", current=True),
                        image("labnet/node:bbbbbbbbbbbb"),
                        image("labnet/node:dddddddddddd", labs=["old-lab"])]
    got = lab_cmd("images", "prune")
    assert got.exit_code == 0 and got.stdout.strip() == "removed labnet/node:bbbbbbbbbbbb"
    assert [i.recipe for i in fake.image_infos] == ["aaaaaaaaaaaa", "dddddddddddd"]
    again = lab_cmd("images", "prune")
    assert again.stdout.strip() == "no stale images: nothing to remove"


# --- Ctrl-C during a deploy -----------------------------------------------------------------------
def test_ctrl_c_during_a_deploy_is_not_called_a_failure(tmp_path):
    (tmp_path / "lab.yml").write_text(TINY)
    fake, events = FakeBackend(), []
    fake.fail("wire", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        api.deploy(tmp_path, backend=fake, progress=events.append)
    messages = [e.message for e in events]
    assert "removing what the deploy of tiny created" in messages
    assert not any("failed" in m for m in messages)


# --- shell completion ----------------------------------------------------------------------------
def completions(args, incomplete):
    from click.shell_completion import ShellComplete
    return [c.value for c in ShellComplete(main, {}, "lab", "_LAB_COMPLETE").get_completions(args, incomplete)]


@pytest.fixture
def engine(monkeypatch):
    """What the engine lists: two labs' nodes and one record."""
    listed = [{"Labels": {"labnet.project": "labnet", "labnet.lab": lab, "labnet.node": node, "labnet.kind": kind}}
              for lab, node, kind in (("ux-ring", "r1", "router"), ("ux-ring", "r2", "router"),
                                      ("ux-ring", "pc1", "host"), ("five", "pc1", "host"))]
    listed.append({"Labels": {"labnet.project": "labnet", "labnet.lab": "half"}})   # a record alone

    def containers(labels):
        wanted = [tuple(lbl.split("=", 1)) if "=" in lbl else (lbl,) for lbl in labels]
        return [c for c in listed if all(w[0] in c["Labels"] and (len(w) == 1 or c["Labels"][w[0]] == w[1])
                                         for w in wanted)]
    monkeypatch.setattr(complete, "_listed", lambda labels: containers(["labnet.project=labnet", *labels]))


def test_completion_of_lab_and_node_names(engine):
    assert completions(["status"], "") == ["five", "half", "ux-ring"]
    assert completions(["exec"], "ux") == ["ux-ring"]
    assert completions(["exec", "ux-ring"], "") == ["pc1", "r1", "r2"]
    assert completions(["shell", "ux-ring"], "r") == ["r1", "r2"]
    assert completions(["exec", "ux-ring", "--nodes"], "r1,") == ["r1,pc1", "r1,r2"]
    assert completions(["exec", "ux-ring", "--all"], "") == []   # what follows is the command


def test_completion_never_fails_loudly(monkeypatch):
    def broken(labels):
        raise OSError("no engine")
    monkeypatch.setattr(complete, "_listed", broken)
    assert completions(["status"], "") == []
    assert completions(["exec", "ux-ring"], "") == []


def test_completion_knows_the_labs_and_nodes_of_the_netns_backend(tmp_path, monkeypatch):
    for node in ("pc1", "r1"):
        (tmp_path / "big" / "nodes" / node).mkdir(parents=True)
    monkeypatch.setattr(complete, "_netns_root", lambda: tmp_path)
    monkeypatch.setattr(complete, "_listed", lambda labels: [])
    assert complete.deployed_labs() == ["big"]
    assert list(complete.lab_nodes("big")) == ["pc1", "r1"]

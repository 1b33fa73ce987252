"""`lab test` on the in-memory backend: batching per node, retries while a check
may wait, final usage errors, stopped nodes, and how every kind of probe
result is judged and shown."""

import re
import time
from urllib.parse import urlsplit

import pytest
import yaml

from orchestrator import contract
from orchestrator.compile import compile_text
from orchestrator.compile.checks import plan_checks
from orchestrator.verify import probes, runner
from orchestrator.verify.runner import run_checks
from tests.unit.fakebackend import FakeBackend, answers

# pc1 -- gw (NAT out of eth1) -- web (http, chat, udp echo)
MINI = """
name: mini
nodes:
  gw: {kind: router, interfaces: {eth0: 10.0.1.1/24, eth1: 203.0.113.1/24}, nat: {out: eth1, inside: [10.0.1.0/24]}}
  pc1: {kind: host, interfaces: {eth0: 10.0.1.10/24}, gateway: 10.0.1.1}
  web:
    kind: host
    interfaces: {eth0: 203.0.113.10/24}
    services: [{type: http, port: 80, root: www}, {type: chat, port: 5000}, {type: udp-echo, port: 7}]
links:
  - [pc1:eth0, gw:eth0]
  - [gw:eth1, web:eth0]
"""
PING_OK = {"probe": "ping", "ok": True, "sent": 2, "received": 2, "loss": 0.0, "avg": 0.123}
PING_LOST = {"probe": "ping", "ok": False, "sent": 2, "received": 0, "loss": 1.0}
USAGE = (2, {"probe": "ping", "ok": False, "error": "argument --count: invalid int value: 'x'"})


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mini")
    (folder / "www").mkdir()
    return compile_text(MINI, folder=folder).result()


@pytest.fixture
def fake(plan):
    fake = FakeBackend()
    fake.load(plan)
    return fake


@pytest.fixture
def quick(monkeypatch):
    """Retries without the quarter-second pause between them."""
    monkeypatch.setattr(runner, "RETRY_PAUSE", 0.01)


def run(fake, plan, text, **kw):
    return run_checks(fake, plan, plan_checks(yaml.safe_load(text), plan), **kw)


def probe_execs(fake):
    """The node of every exec that ran probes (a batch or one CLI probe)."""
    return [node for node, argv in fake.execs if "labnode.probe" in " ".join(argv[:3])]


# --- batching and order -----------------------------------------------------------------
def test_first_attempts_are_one_exec_per_node(fake, plan):
    fake.probe = lambda node, argv: PING_OK
    results = run(fake, plan, "[{reach: {from: pc1, to: [web, gw, gw.eth1]}}, {reach: {from: web, to: [pc1, gw]}}]")
    assert [r.ok for r in results] == [True] * 5
    assert sorted(probe_execs(fake)) == ["pc1", "web"]
    assert len(fake.probe_calls("ping")) == 5


def test_a_node_runs_batches_of_at_most_batch_size(fake, plan, monkeypatch):
    monkeypatch.setattr(runner, "BATCH_SIZE", 2)
    fake.probe = lambda node, argv: PING_OK
    run(fake, plan, "- reach: {from: pc1, to: [web, gw, gw.eth1, web.eth0, 10.0.1.1]}")
    assert probe_execs(fake) == ["pc1"] * 3


def test_checks_that_may_wait_are_batched_apart(fake, plan):
    fake.probe = lambda node, argv: PING_OK
    run(fake, plan, "[{reach: {from: pc1, to: [web, gw]}}, {reach: {from: pc1, to: [gw.eth1, web.eth0], wait: 1s}}]")
    assert probe_execs(fake) == ["pc1", "pc1"]


def test_results_come_back_in_check_order(fake, plan):
    def slow_pc1(node, argv):
        if node == "pc1":
            time.sleep(0.05)  # pc1's batch ends last
        return PING_OK if argv[1] != "10.0.1.1" else PING_LOST

    fake.probe = slow_pc1
    events = []
    checks = plan_checks(yaml.safe_load("""
- reach: {from: pc1, to: [web, gw.eth1]}
- reach: {from: web, to: [pc1, gw]}
"""), plan)
    results = run_checks(fake, plan, checks, progress=events.append)
    assert [r.id for r in results] == [c.id for c in checks]
    assert [r.ok for r in results] == [True, True, True, False]
    assert results[3].message == "reach web -> gw icmp: expected reply, got no reply (100% loss)"
    assert (events[-1].done, events[-1].total) == (4, 4)


def test_an_image_without_batches_falls_back_to_one_probe_each(fake, plan):
    fake.batch_works = False
    fake.probe = lambda node, argv: PING_OK
    results = run(fake, plan, "- reach: {from: pc1, to: [web, gw, gw.eth1]}")
    assert [r.ok for r in results] == [True] * 3
    assert [argv[:3] for _, argv in fake.execs[-4:]] == [["python3", "-c", fake.execs[-4][1][2]],
                                                         contract.PROBE_ARGV, contract.PROBE_ARGV, contract.PROBE_ARGV]


# --- waiting and retrying ---------------------------------------------------------------------
def test_a_check_that_may_wait_is_retried_until_it_holds(fake, plan, quick):
    fake.probe = answers(PING_LOST, PING_LOST, PING_OK)
    [result] = run(fake, plan, "- reach: {from: pc1, to: web, wait: 5s}")
    assert result.ok and result.attempts == 3
    assert len(fake.probe_calls("ping")) == 3


def test_a_check_that_never_holds_stops_at_its_deadline(fake, plan, quick):
    fake.probe = lambda node, argv: PING_LOST
    [result] = run(fake, plan, "- reach: {from: pc1, to: web, wait: 300ms}")
    assert not result.ok and not result.error
    assert result.attempts > 2 and result.attempts == len(fake.probe_calls("ping"))
    assert re.match(rf"{result.attempts} attempts in 0\.\d s \(wait 0\.3 s\)\.", result.detail)
    assert 0.3 - runner.RETRY_PAUSE <= result.seconds < 1.0  # no attempt starts with less than a pause left


def test_a_check_without_wait_is_tried_once(fake, plan, quick):
    fake.probe = lambda node, argv: PING_LOST
    [result] = run(fake, plan, "- reach: {from: pc1, to: web}")
    assert not result.ok and result.attempts == 1 and result.detail == ""
    assert len(fake.probe_calls("ping")) == 1


@pytest.mark.parametrize("targets", ["web", "[web, gw]"], ids=["cli", "batch"])
def test_a_usage_error_is_final(fake, plan, quick, targets):
    fake.probe = lambda node, argv: USAGE
    results = run(fake, plan, f"- reach: {{from: pc1, to: {targets}, wait: 5s}}")
    for r in results:
        assert (r.ok, r.error, r.attempts) == (False, True, 1)
        assert r.got == "probe usage error: argument --count: invalid int value: 'x'"


@pytest.mark.parametrize("targets", ["web", "[web, gw]"], ids=["cli", "batch"])
@pytest.mark.parametrize("wait", ["0s", "100ms"])
def test_a_stopped_source_node_gives_error_results(fake, plan, quick, targets, wait):
    fake.stop("mini", "pc1")
    fake.probe = lambda node, argv: PING_OK
    results = run(fake, plan, f"- reach: {{from: pc1, to: {targets}, wait: {wait}}}")
    for r in results:
        assert not r.ok and r.error
        assert r.got == "pc1 is exited — run 'lab repair mini'"
    assert fake.probe_calls() == []  # nothing was tried in a node that is not running


def test_a_gone_source_node_gives_error_results(fake, plan):
    fake.remove("mini", "pc1")
    [result] = run(fake, plan, "- reach: {from: pc1, to: web}")
    assert result.error and result.got == "pc1 is gone — run 'lab repair mini'"


def test_a_stopped_target_node_gives_error_results_and_the_rest_runs(fake, plan):
    fake.stop("mini", "web")
    fake.probe = lambda node, argv: PING_OK
    down, up = run(fake, plan, "- reach: {from: pc1, to: [web, gw]}")
    assert down.error and down.got == "web is exited — run 'lab repair mini'"
    assert up.ok


# --- judging -------------------------------------------------------------------------------------
@pytest.mark.parametrize("check, answer, ok, got", [
    ("reach: {from: pc1, to: web}", PING_OK, True, "2/2 replies, 0.12 ms"),
    ("reach: {from: pc1, to: web}", PING_LOST, False, "no reply (100% loss)"),
    ("reach: {from: pc1, to: web}", {**PING_LOST, "error": "network unreachable"}, False,
     "no reply (100% loss: network unreachable)"),
    ("deny: {from: pc1, to: web}", PING_LOST, True, "no reply (100% loss)"),
    ("deny: {from: pc1, to: web}", PING_OK, False, "2/2 replies, 0.12 ms"),
    ("reach: {from: pc1, to: web, proto: 'tcp:80'}", {"state": "open", "ok": True}, True, "port 80 open"),
    ("reach: {from: pc1, to: web, proto: 'tcp:80'}", {"state": "filtered"}, False, "port 80 filtered"),
    ("deny: {from: pc1, to: web, proto: 'tcp:22'}", {"ports": {"22": "closed"}}, True, "port 22 closed"),
    ("deny: {from: pc1, to: web, proto: 'tcp:22'}", {"state": "open", "ok": True}, False, "port 22 open"),
    ("reach: {from: pc1, to: web, proto: 'udp:7'}", {"received": 1, "rtt_ms": [0.42], "ok": True}, True,
     "echo in 0.42 ms"),
    ("reach: {from: pc1, to: web, proto: 'udp:7'}", {"received": 0, "error": "timed out"}, False,
     "no echo on udp 7: timed out"),
    ("deny: {from: pc1, to: web, proto: 'udp:53'}", {"received": 0}, True, "no echo on udp 53"),
])
def test_reach_and_deny(fake, plan, check, answer, ok, got):
    fake.probe = lambda node, argv: answer
    [result] = run(fake, plan, f"- {check}")
    assert (result.ok, result.got) == (ok, got)


def test_icmp_errors_are_in_the_detail(fake, plan):
    fake.probe = lambda node, argv: {**PING_LOST, "errors": ["seq 0: host unreachable from 10.0.1.1"]}
    [result] = run(fake, plan, "- reach: {from: pc1, to: web}")
    assert result.detail == "ICMP errors: ['seq 0: host unreachable from gw (10.0.1.1)']"


@pytest.mark.parametrize("avg, shown", [(0.04, "0.04 ms"), (0.0, "0 ms"), (1.23, "1.2 ms"), (9.4, "9.4 ms"),
                                        (35.4, "35 ms"), (1234.5, "1234 ms")])
def test_round_trip_times_keep_their_meaningful_digits(fake, plan, avg, shown):
    fake.probe = lambda node, argv: {**PING_OK, "avg": avg}
    [result] = run(fake, plan, "- reach: {from: pc1, to: web}")
    assert result.got == f"2/2 replies, {shown}"


def test_addresses_of_lab_nodes_are_named_in_verdicts(fake, plan):
    fake.probe = lambda node, argv: {"hops": ["10.0.1.1"], "reached": False,
                                     "error": "network unreachable from 10.0.1.1"}
    [result] = run(fake, plan, "- path: {from: pc1, to: web, via: [gw]}")
    assert result.got == "gw (not reached: network unreachable from gw (10.0.1.1))"
    assert result.detail == "hops: gw (10.0.1.1)"


def test_addresses_outside_the_lab_stay_as_they_are(fake, plan):
    fake.probe = lambda node, argv: {**PING_LOST, "errors": ["seq 0: host unreachable from 198.51.100.7"]}
    [result] = run(fake, plan, "- reach: {from: pc1, to: web}")
    assert result.detail == "ICMP errors: ['seq 0: host unreachable from 198.51.100.7']"


def test_probe_arguments(fake, plan):
    fake.probe = lambda node, argv: {}
    run(fake, plan, """
- reach: {from: pc1, to: web, proto: 'tcp:80', timeout: 2s}
- path: {from: pc1, to: web, via: [gw]}
- service: {node: web, from: pc1, http: /index.html, status: 200, contains: Hello}
""")
    assert sorted(argv for _, argv in fake.probe_calls()) == [
        ["http", "http://203.0.113.10:80/index.html", "--timeout", "3", "--status", "200", "--contains", "Hello"],
        ["tcp", "203.0.113.10", "80", "--timeout", "2"],
        ["traceroute", "203.0.113.10", "--method", "icmp", "--queries", "2", "--max-hops", "4", "--timeout", "1"],
    ]


@pytest.mark.parametrize("method, args", [("udp", ["--method", "udp"]), ("tcp", ["--method", "tcp", "--port", "80"]),
                                          ("'tcp:8080'", ["--method", "tcp", "--port", "8080"])])
def test_path_method_is_the_traceroute_method(fake, plan, method, args):
    fake.probe = lambda node, argv: {}
    [result] = run(fake, plan, f"- path: {{from: pc1, to: web, via: [gw], method: {method}}}")
    [(_, argv)] = fake.probe_calls()
    assert argv[:2 + len(args)] == ["traceroute", "203.0.113.10", *args]
    assert result.what == f"path pc1 -> web {'udp' if method == 'udp' else 'tcp:' + args[-1]}"


@pytest.mark.parametrize("answer, ok, got", [
    ({"hops": ["10.0.1.1", "203.0.113.10"], "reached": True}, True, "gw -> web"),
    ({"hops": ["10.0.1.1", None, "203.0.113.10"], "reached": True}, False, "gw -> * -> web"),
    ({"hops": ["198.51.100.7", "203.0.113.10"], "reached": True}, False, "198.51.100.7 -> web"),
    ({"hops": ["10.0.1.1"], "reached": False, "error": "network unreachable"}, False,
     "gw (not reached: network unreachable)"),
    ({"hops": ["10.0.1.1"], "reached": False, "error": "203.0.113.10 not reached within 4 hops"}, False,
     "gw (target not reached within 4 hops)"),
    ({"hops": ["10.0.1.1", None, None, None], "reached": False}, False,
     "gw -> * -> * -> * (target not reached within 4 hops)"),
    ({"hops": []}, False, "no hop answered (target not reached within 4 hops)"),
])
def test_path_hops_are_named_by_node(fake, plan, answer, ok, got):
    fake.probe = lambda node, argv: answer
    [result] = run(fake, plan, "- path: {from: pc1, to: web, via: [gw]}")
    assert (result.ok, result.got) == (ok, got)
    assert result.expected == "via gw -> web"


@pytest.mark.parametrize("answer, ok, got", [
    ({"status": 200, "reason": "OK", "body_length": 12, "contains": True, "ok": True}, True,
     "status 200 OK, 12 bytes, text found"),
    ({"status": 200, "reason": "OK", "body_length": 12, "contains": False, "ok": False}, False,
     "status 200 OK, 12 bytes, 'Hello' not in the body"),
    ({"status": 404, "reason": "Not Found", "body_length": 9, "ok": False}, False,
     "status 404 Not Found, 9 bytes, 'Hello' not in the body"),
    ({"error": "request failed: timed out", "ok": False}, False, "no answer (request failed: timed out)"),
])
def test_service_status_and_contains(fake, plan, answer, ok, got):
    fake.probe = lambda node, argv: answer
    [result] = run(fake, plan, "- service: {node: web, from: pc1, http: /, status: 200, contains: Hello}")
    assert (result.ok, result.got) == (ok, got)


@pytest.mark.parametrize("answer, ok, got", [
    ({"joined": True, "echoed": True, "rtt_ms": 3.21, "ok": True}, True, "echoed in 3.2 ms"),
    ({"joined": True, "echoed": False, "error": "timed out"}, False,
     "joined, but the message did not come back (timed out)"),
    ({"joined": False, "error": "connection refused"}, False, "could not join (connection refused)"),
])
def test_chat(fake, plan, answer, ok, got):
    fake.probe = lambda node, argv: answer
    [result] = run(fake, plan, "- chat: {server: web, clients: pc1}")
    assert (result.ok, result.got) == (ok, got)
    assert fake.probe_calls("chat")[0][1][:4] == ["chat", "203.0.113.10", "--port", "5000"]


# --- nat_source: a request, then the server's access log -----------------------------------------
def serve_from(fake, client_address):
    """An http probe whose request web's access log records as coming from client_address."""
    def probe(node, argv):
        url = urlsplit(argv[1])
        fake.write("mini", "web", "/var/log/labnet/http.log",
                   f'{client_address}:40312 "GET {url.path}?{url.query} HTTP/1.1" 200 12\n')
        return {"status": 200, "reason": "OK", "ok": True}
    return probe


def test_nat_source_reads_the_access_log_with_a_second_exec(fake, plan):
    fake.probe = serve_from(fake, "203.0.113.1")
    [result] = run(fake, plan, "- nat_source: {from: pc1, to: web, seen_as: gw.eth1}")
    assert (result.ok, result.got) == (True, "seen as 203.0.113.1 (gw.eth1)")
    assert [(node, argv[0]) for node, argv in fake.execs[-2:]] == [("pc1", "python3"), ("web", "grep")]


def test_nat_source_without_nat_names_the_real_source(fake, plan):
    fake.probe = serve_from(fake, "10.0.1.10")
    [result] = run(fake, plan, "- nat_source: {from: pc1, to: web, seen_as: gw.eth1}")
    assert (result.ok, result.got) == (False, "seen as 10.0.1.10 (pc1.eth0)")


def test_nat_source_when_the_log_has_no_such_request(fake, plan, monkeypatch):
    monkeypatch.setattr(probes.time, "sleep", lambda s: None)
    fake.write("mini", "web", "/var/log/labnet/http.log", "")
    fake.probe = lambda node, argv: {"status": 200, "reason": "OK", "ok": True}
    [result] = run(fake, plan, "- nat_source: {from: pc1, to: web, seen_as: gw.eth1}")
    assert result.error and result.got == ("answered 200, but the request is not in the access log "
                                           "under /var/log/labnet in web")
    assert [argv[0] for node, argv in fake.execs if node == "web"] == ["grep"] * 10  # ten reads of the log


def test_nat_source_when_the_log_cannot_be_read(fake, plan):
    fake.probe = lambda node, argv: {"status": 200, "reason": "OK", "ok": True}
    [result] = run(fake, plan, "- nat_source: {from: pc1, to: web, seen_as: gw.eth1}")
    assert result.error and result.got == ("cannot read /var/log/labnet in web: "
                                           "grep: /var/log/labnet: No such file or directory")


def test_nat_source_without_an_http_answer(fake, plan):
    fake.probe = lambda node, argv: {"ok": False, "error": "request failed: connection refused"}
    [result] = run(fake, plan, "- nat_source: {from: pc1, to: web, seen_as: gw.eth1}")
    assert result.got == "no HTTP answer (request failed: connection refused)"


@pytest.mark.parametrize("check, answer", [
    ("deny: {from: pc1, to: web}", {"probe": "ping", "ok": False, "error": "[Errno 1] Operation not permitted"}),
    ("deny: {from: pc1, to: web, proto: 'tcp:22'}",
     {"probe": "tcp", "ok": False, "error": "internal error: ValueError: bad address"}),
], ids=["ping-without-raw-socket", "tcp-probe-crash"])
def test_a_deny_check_does_not_pass_when_the_probe_could_not_run(fake, plan, check, answer):
    fake.probe = lambda node, argv: answer
    [result] = run(fake, plan, f"- {check}")
    assert not result.ok and result.error
    assert result.got.startswith("the probe could not run (")


@pytest.mark.parametrize("text, named", [
    ("network unreachable from 10.0.1.1.", "network unreachable from gw (10.0.1.1)."),
    ("request failed: 203.0.113.10:80 refused", "request failed: 203.0.113.10:80 refused"),
    ("route 10.0.1.0/24, address 10.0.1.1/24", "route 10.0.1.0/24, address 10.0.1.1/24"),
    ("from gw (10.0.1.1)", "from gw (10.0.1.1)"),
    ("10.0.1.10 and 10.0.1.100", "pc1 (10.0.1.10) and 10.0.1.100"),
])
def test_only_whole_addresses_of_lab_nodes_are_named_once(fake, plan, text, named):
    assert probes.Prober(fake, plan).named(text) == named

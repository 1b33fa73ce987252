"""Hosts on the user-space stack (`stack: user`) in the plan, the checks and the
commands, on the in-memory backend: which probes run where, how the stack's
GET is judged, `same_as` digests, and `lab stack`."""

import hashlib
import json

import pytest
import yaml

from orchestrator import contract, operate
from orchestrator.backend.protocol import ExecResult
from orchestrator.compile import compile_file
from orchestrator.compile.checks import plan_checks
from orchestrator.errors import UsageError
from orchestrator.lab import plan_lab
from orchestrator.verify.ping import all_pairs_ping
from orchestrator.verify.runner import run_checks
from tests.conftest import LABS
from tests.unit.fakebackend import FakeBackend

LAB = """
name: us
nodes:
  us: {kind: host, stack: user, interfaces: {eth0: 10.0.1.10/24}, gateway: 10.0.1.1,
       services: [{type: http, root: www}, {type: select, port: 7}]}
  r1: {kind: router, interfaces: {eth0: 10.0.1.1/24, eth1: 10.0.2.1/24}}
  pc: {kind: host, interfaces: {eth0: 10.0.2.10/24}, gateway: 10.0.2.1, services: [{type: http, root: www}]}
links:
  - [us:eth0, r1:eth0]
  - [pc:eth0, r1:eth1]
"""
BODY = b"0123456789" * 1000
DIGEST = hashlib.sha256(BODY).hexdigest()


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("us")
    (folder / "www").mkdir()
    (folder / "www" / "big.bin").write_bytes(BODY)
    (folder / "lab.yml").write_text(LAB)
    return compile_file(folder).result()


@pytest.fixture
def fake(plan):
    fake = FakeBackend()
    fake.load(plan)
    return fake


def run(fake, plan, text):
    return run_checks(fake, plan, plan_checks(yaml.safe_load(text), plan))


def stack_answers(fake, answer, code=0):
    """The stack's GET client in the node answers this (and records its argv)."""
    calls = []

    def handler(node, argv):
        if argv[:3] != contract.STACK_GET_ARGV:
            return None
        calls.append((node, argv))
        return ExecResult(code, json.dumps(answer, indent=2) + "\n", "")
    fake.exec_handlers.append(handler)
    return calls


def get_result(**over):
    out = {"ok": True, "url": "http://10.0.2.10:80/big.bin", "status": 200, "bytes": len(BODY), "sha256": DIGEST,
           "seconds": 0.01, "error": None, "tcp": {"retransmits": 3, "out_of_order": 0}}
    out.update(over)
    return out


def test_the_plan_hands_the_services_to_the_stack(plan):
    node = plan.nodes["us"]
    assert node.stack is not None and node.stack.gateway == "10.0.1.1"
    assert node.stack.mac == node.interfaces[0].mac and node.stack.address == "10.0.1.10/24"
    assert [(a.type, a.port) for a in node.stack.apps] == [("http", 80), ("select", 7)]
    assert [s.type for s in node.services] == ["stack"]          # the supervisor runs the stack
    assert node.folders() == [(node.stack.apps[0].files_from, "/srv/http")]
    assert plan.nodes["pc"].stack is None


def test_a_service_check_from_a_stack_host_is_made_by_its_stack(fake, plan):
    calls = stack_answers(fake, get_result())
    [result] = run(fake, plan, "- service: {node: pc, from: us, http: /big.bin, same_as: www/big.bin}")
    assert result.ok, result.got
    assert result.got == "status 200, 10000 bytes through the stack (3 retransmitted)"
    assert result.expected == f"status < 400, body equal to www/big.bin (sha256 {DIGEST[:12]})"
    [(node, argv)] = calls
    assert node == "us" and argv[-1] == "http://10.0.2.10:80/big.bin" and "--json" in argv
    assert fake.probe_calls() == []      # not the kernel probe: us's kernel has no address


@pytest.mark.parametrize("answer, code, got", [
    (get_result(sha256="ab" * 32, ok=True), 0,
     f"status 200, 10000 bytes through the stack (3 retransmitted), but the body differs "
     f"(sha256 abababababab, expected {DIGEST[:12]})"),
    (get_result(ok=False, error="timed out after 3s", bytes=512), 1,
     "status 200, 512 bytes through the stack (3 retransmitted): timed out after 3s, but the body differs "
     f"(sha256 {DIGEST[:12]}, expected {DIGEST[:12]})"),
    (get_result(ok=False, status=None, error="connection refused", tcp=None), 1,
     "no answer through the stack (connection refused)"),
])
def test_a_stack_get_that_went_wrong_says_how(fake, plan, answer, code, got):
    if answer.get("bytes") == 512:   # a cut transfer has another digest than the whole file
        answer["sha256"] = hashlib.sha256(BODY[:512]).hexdigest()
        got = got.replace(f"(sha256 {DIGEST[:12]}, expected", f"(sha256 {answer['sha256'][:12]}, expected")
    stack_answers(fake, answer, code)
    [result] = run(fake, plan, "- service: {node: pc, from: us, http: /big.bin, same_as: www/big.bin}")
    assert (result.ok, result.got) == (False, got)


def test_a_stack_get_with_no_json_is_an_error_not_a_verdict(fake, plan):
    fake.exec_handlers.append(lambda node, argv: ExecResult(1, "", "stack: cannot reach the stack\n")
                              if argv[:3] == contract.STACK_GET_ARGV else None)
    [result] = run(fake, plan, "- service: {node: pc, from: us, http: /}")
    assert not result.ok and result.error
    assert result.got == "the stack's GET in us gave no result (stack: cannot reach the stack)"


def test_same_as_from_a_kernel_host_compares_the_probe_digest(fake, plan):
    fake.probe = lambda node, argv: {"status": 200, "reason": "OK", "body_length": 10, "ok": True,
                                     "sha256": hashlib.sha256(b"other").hexdigest()}
    [result] = run(fake, plan, "- service: {node: us, from: pc, http: /big.bin, same_as: www/big.bin}")
    assert not result.ok and "but the body differs" in result.got
    fake.probe = lambda node, argv: {"status": 200, "reason": "OK", "body_length": 10, "ok": True, "sha256": DIGEST}
    [result] = run(fake, plan, "- service: {node: us, from: pc, http: /big.bin, same_as: www/big.bin}")
    assert result.ok and result.got == "status 200 OK, 10 bytes"


def test_all_pairs_and_lab_ping_probe_a_stack_host_but_not_from_it(fake, plan):
    checks = plan_checks(yaml.safe_load("- all_pairs: hosts"), plan)
    assert [(c.src, c.dst) for c in checks] == [("pc", "us")]
    pinged = [(r.src, r.dst) for r in all_pairs_ping(fake, plan)]
    assert pinged == [("pc", "us")]


def test_lab_stack_asks_the_stack_and_refuses_a_kernel_host():
    fake = FakeBackend()
    fake.load(plan_lab(LABS / "user-stack")[0])
    fake.exec_handlers.append(lambda node, argv: ExecResult(0, json.dumps({"arp": [], "sockets": [], "stats": {}}),
                                                            "") if argv[:3] == contract.STACK_CLI_ARGV else None)
    answer = operate.stack("user-stack", "ustack", "all", as_json=True, backend=fake)
    assert answer.data == {"arp": [], "sockets": [], "stats": {}}
    with pytest.raises(UsageError, match=r"pc uses the kernel's TCP/IP stack, not ours \(ustack and lossy run "
                                         r"ours\); for the kernel's sockets: lab exec user-stack pc -- ss -tuani"):
        operate.stack("user-stack", "pc", backend=fake)

"""`lab test` on real labs: wrong expectations fail with what was seen, right
ones pass, timeouts are honoured, the CLI's exit codes and JUnit output, the
pytest plugin, and every lab under labs/ passes its own expectations."""

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
import yaml
from click.testing import CliRunner

from orchestrator import lab as api
from orchestrator.cli import main
from orchestrator.compile.checks import plan_checks
from orchestrator.operate import run_lab_tests
from orchestrator.verify.runner import run_checks
from tests.conftest import LABS, ROOT

WRONG = "t-test-wrong"
LAB = """
name: t-test-wrong
nodes:
  r1: {kind: router}
  pc1: {kind: host}
  srv:
    kind: host
    services:
      - {type: http, port: 80, root: www}
      - {type: chat, port: 5000}
  iso: {kind: host, interfaces: {eth0: 192.168.9.10/24}}
  s9: {kind: switch}
lans:
  left: {prefix: 192.168.1.0/24, members: [r1, pc1]}
  right: {prefix: 192.168.2.0/24, members: [r1, srv]}
links:
  - [iso, s9]
expect:   # every one deliberately wrong
  - reach: {from: pc1, to: iso, name: wrong reach icmp}
  - reach: {from: pc1, to: srv, proto: tcp:81, name: wrong reach tcp}
  - reach: {from: pc1, to: srv, proto: udp:7, name: wrong reach udp}
  - deny: {from: pc1, to: srv, proto: icmp, name: wrong deny}
  - path: {from: pc1, to: srv, via: [], name: wrong path}
  - service: {node: srv, from: pc1, http: /missing.html, status: 200, wait: 3s, name: wrong service}
  - chat: {server: srv, clients: [pc1], port: 5001, name: wrong chat}
  - nat_source: {from: pc1, to: srv, seen_as: r1.eth1, name: wrong nat}
  - all_pairs: {nodes: [pc1, iso], name: wrong all_pairs}
"""
RIGHT = """
- reach: {from: pc1, to: [srv, r1.eth1]}
- reach: {from: pc1, to: srv, proto: tcp:80, wait: 5s}
- deny: {from: pc1, to: iso}
- deny: {from: pc1, to: srv, proto: tcp:81}
- path: {from: pc1, to: srv, via: [r1]}
- service: {node: srv, from: pc1, http: /index.html, status: 200, contains: Hello, wait: 5s}
- service: {node: srv, from: pc1, http: /missing.html, status: 404, wait: 5s}
- chat: {server: srv, clients: [pc1, r1], wait: 5s}
- nat_source: {from: pc1, to: srv, seen_as: pc1, wait: 5s}
- all_pairs: [pc1, srv]
"""


@pytest.fixture(scope="module")
def wrong(backend, tmp_path_factory):
    folder = tmp_path_factory.mktemp("wrong")
    (folder / "www").mkdir()
    (folder / "www" / "index.html").write_text("Hello from srv\n")
    (folder / "lab.yml").write_text(LAB)
    api.destroy(WRONG, backend=backend)
    try:
        plan = api.deploy(folder, backend=backend).plan
        yield plan
    finally:
        api.destroy(WRONG, backend=backend)


def by_what(results):
    return {r.what: r for r in results}


def test_wrong_expectations_fail_saying_what_was_seen(backend, wrong):
    results = run_lab_tests(WRONG, backend)
    assert len(results) == 10
    assert [r.what for r in results if r.ok] == []
    assert [r.what for r in results if r.error] == []  # network verdicts, not probe trouble
    got = by_what(results)
    assert got["wrong reach icmp"].got.startswith("no reply (100% loss: ")
    # r1 answers "network unreachable", but the kernel sends such routing errors
    # at most 5 at once and then 1 a second per source (net.ipv4.route.error_cost
    # and error_burst, which are the host's, not the lab's): when other probes
    # took them, nothing comes back
    seen = got["wrong reach icmp"].got
    assert "unreachable" in seen or "no reply from iso (192.168.9.10)" in seen, seen
    assert got["wrong reach tcp"].got == "port 81 closed"
    assert got["wrong reach udp"].got == "no echo on udp 7: port unreachable"
    assert got["wrong deny"].expected == "no reply" and got["wrong deny"].got.startswith("2/2 replies")
    assert (got["wrong path"].expected, got["wrong path"].got) == ("via srv", "r1 -> srv")
    assert got["wrong path"].detail == "hops: r1 (192.168.1.1), srv (192.168.2.10)"
    assert got["wrong service"].got.startswith("status 404 Not Found")
    assert got["wrong service"].attempts >= 2  # it waited for the service (3 s) before failing
    assert got["wrong chat"].got.startswith("could not join (") and "refused" in got["wrong chat"].got
    assert got["wrong nat"].expected == "seen as r1.eth1 (192.168.2.1)"
    assert got["wrong nat"].got == "seen as 192.168.1.10 (pc1.eth0)"
    pairs = [r for r in results if r.what.startswith("wrong all_pairs")]
    assert [(r.src, r.dst) for r in pairs] == [("pc1", "iso"), ("iso", "pc1")]


def test_right_expectations_pass_on_the_same_lab(backend, wrong):
    results = run_checks(backend, wrong, plan_checks(yaml.safe_load(RIGHT), wrong))
    assert len(results) == 13
    assert [r.message for r in results if not r.ok] == []


def test_timeouts_and_waits_are_honoured(backend, wrong):
    checks = plan_checks(yaml.safe_load("""
- reach: {from: pc1, to: 192.168.2.99, timeout: 0.3, name: short}
- reach: {from: pc1, to: 192.168.2.99, timeout: 2, name: long}
- reach: {from: srv, to: iso, wait: 2s, timeout: 0.5, name: waits}
"""), wrong)
    got = by_what(run_checks(backend, wrong, checks))
    assert not any(r.ok for r in got.values())
    assert got["short"].seconds < 1.5 and got["short"].attempts == 1
    assert 2.0 <= got["long"].seconds < 4.0
    assert 1.7 <= got["waits"].seconds < 4.0 and got["waits"].attempts >= 2
    assert got["waits"].detail.startswith(f"{got['waits'].attempts} attempts in ")


def test_cli_exit_codes_and_junit(wrong, tmp_path):
    junit = tmp_path / "junit.xml"
    out = CliRunner().invoke(main, ["test", WRONG, "--junit", str(junit)])
    assert out.exit_code == 1, out.output
    assert "0/10 checks passed" in out.output and "FAIL" in out.output
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("errors")) == (
        WRONG, "10", "10", "0")
    assert suite.find("testcase[@name='wrong path']/failure").get("message") == "expected via srv, got r1 -> srv"

    out = CliRunner().invoke(main, ["test", "t-test-not-deployed"])
    assert out.exit_code == 1 and "is not deployed" in out.output


def test_pytest_plugin_deploys_runs_and_destroys(backend, tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "lab.yml").write_text(textwrap.dedent("""
        name: t-test-tiny
        nodes: {a: {kind: host}, b: {kind: host}}
        links: [{a: a, b: b, prefix: 10.9.0.0/24}]
        expect:
          - all_pairs: hosts
          - reach: {from: a, to: b, proto: tcp:81, name: deliberately wrong}
        """))
    (tmp_path / "test_tiny.py").write_text(textwrap.dedent("""
        import pytest
        pytestmark = pytest.mark.lab("tiny", name="t-test-plug", scope="module")

        def test_probe(lab):
            assert lab.probe("a", "ping", "b")["received"] >= 1
            assert lab.address("b") == "10.9.0.11"

        def test_testinfra_host(lab):
            host = lab.host("a")
            assert host.interface("eth0").addresses[0] == "10.9.0.10"
            assert host.file("/etc/hostname").content_string.strip() == "a"

        def test_expectation(lab, lab_check):
            result = lab.check(lab_check)
            assert result.ok, result.message
        """))
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "orchestrator.pytest_plugin", "-v", "-p", "no:cacheprovider",
         "--lab", "tiny", "--lab-name", "t-test-plug2", "--junitxml", "j.xml", "test_tiny.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "test_tiny.py::test_probe PASSED" in out
    assert "test_tiny.py::test_testinfra_host PASSED" in out
    assert "test_tiny.py::test_expectation[reach a -> b icmp] PASSED" in out
    assert "test_tiny.py::test_expectation[deliberately wrong] FAILED" in out
    assert "tiny/lab.yml::reach b -> a icmp PASSED" in out
    assert "tiny/lab.yml::deliberately wrong FAILED" in out
    assert "expected: port 81 open" in out and "got:      port 81 closed" in out
    assert "2 failed, 6 passed" in out
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("8", "2")
    for name in ("t-test-plug", "t-test-plug2"):  # destroyed although tests failed
        assert backend.nodes(name) == []


ALL = sorted(p.parent.name for p in LABS.glob("*/lab.yml"))


@pytest.mark.parametrize("lab", ALL)
def test_every_lab_passes_its_own_expectations(backend, lab):
    name = f"t-test-{lab}"[:32].rstrip("-")
    api.destroy(name, backend=backend)
    try:
        api.deploy(LABS / lab, name=name, backend=backend)
        out = CliRunner().invoke(main, ["test", name])
        assert out.exit_code == 0, out.output
        assert "checks passed" in out.output, f"labs/{lab} has no expectations"
    finally:
        api.destroy(name, backend=backend)

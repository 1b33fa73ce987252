"""What the `lab` command shows: global flags anywhere, --json everywhere (or
a clear refusal), JSON problems as objects, -q and -v, Ctrl-C, 80 columns."""

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from rich.console import Console

from orchestrator import lab as api
from orchestrator import operate
from orchestrator import repair as repairing
from orchestrator.cli import main, ui
from orchestrator.cli.test import print_results
from orchestrator.progress import Event
from orchestrator.verify.runner import Result
from tests.unit.fakebackend import FakeBackend

LAB = str(Path(__file__).resolve().parent.parent.parent / "labs" / "five-subnets")
BAD = str(Path(__file__).resolve().parent / "bad" / "several-errors-at-once.yml")
TINY = """
name: tiny
nodes:
  pc1: {kind: host}
  r1: {kind: router}
  pc2: {kind: host}
links:
  - {a: pc1, b: r1, prefix: 10.0.1.0/24}
  - {a: r1, b: pc2, prefix: 10.0.2.0/24}
"""
WARNED = """
name: w
nodes:
  a: {kind: host, interfaces: {eth0: 10.0.0.1/24, eth1: 10.0.1.1/24}}
  b: {kind: host, interfaces: {eth0: 10.0.0.2/24}}
links:
  - [a:eth0, b:eth0]
"""


def lab(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def captured(monkeypatch):
    """The CLI's two rich consoles, writing into buffers 80 columns wide."""
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setitem(ui._consoles, "out", Console(file=out, width=80, highlight=False, soft_wrap=True))
    monkeypatch.setitem(ui._consoles, "err", Console(file=err, width=80, highlight=False, soft_wrap=True))
    monkeypatch.setattr(ui.OUT, "quiet", False)
    monkeypatch.setattr(ui.OUT, "json", False)
    return SimpleNamespace(out=out, err=err)


# --- 1. -q / --json / --debug before or after the command --------------------------------
@pytest.mark.parametrize("argv", [["--json", "validate", LAB], ["validate", LAB, "--json"],
                                  ["validate", "--json", LAB]])
def test_json_goes_before_or_after_the_command(argv):
    result = lab(*argv)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["lab"] == "five-subnets"


def test_quiet_after_the_command_is_not_an_unknown_option():
    result = lab("validate", LAB, "-q", "--debug")
    assert result.exit_code == 0, result.output
    assert "No such option" not in result.output


def test_a_global_flag_after_double_dash_is_not_taken():
    result = lab("validate", "--", "--json")
    assert result.exit_code == 1
    assert "no lab file at --json" in result.output


def test_the_command_of_lab_exec_keeps_its_flags(monkeypatch):
    seen = []

    def exec_in(name, node, argv):
        seen.append((name, node, argv))
        return SimpleNamespace(stdout="fine\n", stderr="", exit_code=0)

    monkeypatch.setattr(operate, "exec_in", exec_in)
    result = lab("exec", "lab1", "r1", "--", "ip", "-q", "--json", "route")
    assert result.exit_code == 0, result.output
    assert seen == [("lab1", "r1", ["ip", "-q", "--json", "route"])]
    assert result.stdout == "fine\n"


@pytest.mark.parametrize("command", [["deploy"], ["test"], ["images", "build"], ["graph"]])
def test_every_command_help_shows_the_global_flags(command):
    result = lab(*command, "--help")
    assert result.exit_code == 0
    for flag in ("-q, --quiet", "--json", "--debug"):
        assert flag in result.output


def test_lab_help_says_the_flags_may_follow_the_command():
    result = lab("--help")
    assert "may also follow the command" in result.output


# --- 2. --json honoured, or refused with a clear message ----------------------------------
def test_graph_refuses_json_clearly():
    result = lab("graph", LAB, "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error.startswith("lab graph has no JSON output; ")
    assert "lab --json plan" in error


def test_plan_under_json_is_json():
    result = lab("--json", "plan", LAB)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["lab"] == "five-subnets"


def _result(n, ok=True, dst="10.0.3.2"):
    return Result(id=f"expect[{n}]", kind="reach", what=f"reach pc1 -> {dst}", src="pc1", dst=dst,
                  expected="reachable", got="reachable" if ok else "unreachable", ok=ok, seconds=0.25)


def test_lab_test_json_lists_every_result(monkeypatch):
    monkeypatch.setattr(operate, "run_lab_tests",
                        lambda name, progress, workers, checks_file=None: [_result(0), _result(1, False)])
    monkeypatch.setattr(api, "resolve_lab_name", lambda name: name)
    result = lab("test", "five", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["lab"], data["passed"], data["failed"]) == ("five", 1, 1)
    assert [(r["id"], r["ok"], r["got"]) for r in data["results"]] == [("expect[0]", True, "reachable"),
                                                                        ("expect[1]", False, "unreachable")]


# --- 3. problems as objects --------------------------------------------------------------
def test_json_errors_are_objects_with_file_line_path_message_hint():
    result = lab("--json", "validate", BAD)
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert len(problems) == 4
    assert all(set(p) == {"file", "line", "path", "message", "hint"} for p in problems)
    unknown = next(p for p in problems if p["path"] == "links[1].b")
    assert unknown["file"].endswith("several-errors-at-once.yml")
    assert (unknown["line"], unknown["message"]) == (8, "unknown node 'r2'")
    assert unknown["hint"].startswith("did you mean 'r1'?")


def test_json_warnings_are_objects_too(tmp_path):
    (tmp_path / "lab.yml").write_text(WARNED)
    result = lab("--json", "validate", str(tmp_path))
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    assert warnings == [{"file": str(tmp_path / "lab.yml"), "line": 4, "path": "nodes.a.interfaces.eth1",
                         "message": "interface a:eth1 is declared but no link uses it",
                         "hint": "add a link with end 'a:eth1'"}]


# --- 4. quiet repair -----------------------------------------------------------------------
def _broken_lab(monkeypatch):
    monkeypatch.setattr(repairing, "needs_repair", lambda name: {"r1": "stopped", "pc2": "lost eth0"})
    monkeypatch.setattr(repairing, "repair", lambda name, progress: repairing.RepairResult(
        repaired=["pc2"], reconfigured=["pc2", "r1"], started=["r1"]))


def test_quiet_repair_shows_the_result_only(monkeypatch):
    _broken_lab(monkeypatch)
    result = lab("repair", "five", "-q")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "lab five repaired: started r1; re-wired pc2; re-configured pc2, r1"]


def test_repair_names_the_broken_nodes_unless_quiet(monkeypatch):
    _broken_lab(monkeypatch)
    result = lab("repair", "five")
    assert "r1: stopped" in result.output and "pc2: lost eth0" in result.output


def test_repair_json(monkeypatch):
    _broken_lab(monkeypatch)
    data = json.loads(lab("--json", "repair", "five").stdout)
    assert data["broken"] == {"r1": "stopped", "pc2": "lost eth0"}
    assert (data["started"], data["repaired"]) == (["r1"], ["pc2"])


# --- 5. progress: the last item -----------------------------------------------------------
def test_verbose_progress_shows_the_last_item_then_the_total(captured):
    view = ui.ProgressView(verbose=True)
    for n in range(1, 4):
        view(Event("destroy", f"removed n{n}", n, 3))
    assert captured.err.getvalue().splitlines() == [
        "• destroy [1/3]: removed n1", "• destroy [2/3]: removed n2", "• destroy [3/3]: removed n3",
        "• destroy: 3 nodes removed"]


def test_verbose_lab_test_shows_the_last_check(captured):
    view = ui.ProgressView(verbose=True)
    view(Event("test", "2 checks on five", 0, 2))
    view(Event("test", "reach pc1 -> pc2: ok", 1, 2))
    view(Event("test", "reach pc2 -> pc1: FAIL", 2, 2))
    lines = captured.err.getvalue().splitlines()
    assert lines[-2:] == ["• test [2/2]: reach pc2 -> pc1: FAIL", "• test: 2 checks run"]


def test_progress_without_verbose_shows_the_totals_only(captured):
    view = ui.ProgressView()
    for n in range(1, 3):
        view(Event("create", f"started n{n}", n, 2))
    assert captured.err.getvalue().splitlines() == ["• create: 2 nodes started"]


def test_a_fake_destroy_with_verbose_progress_names_every_node(captured):
    fake = FakeBackend({"five": 3})
    api.destroy("five", backend=fake, progress=ui.ProgressView(verbose=True))
    err = captured.err.getvalue()
    assert all(f"removed n{n}" in err for n in (1, 2, 3)), err
    assert err.splitlines()[-1] == "• destroy: 3 nodes removed"


# --- 6. Ctrl-C during deploy: one message -------------------------------------------------
def test_ctrl_c_during_deploy_says_interrupted_once(tmp_path, monkeypatch):
    (tmp_path / "lab.yml").write_text(TINY)
    fake = FakeBackend()
    fake.fail("wire", KeyboardInterrupt(), after=1)
    monkeypatch.setattr(api, "default_backend", lambda: fake)
    result = lab("deploy", str(tmp_path))
    assert result.exit_code == 130
    assert result.output.count("interrupted") == 1
    assert "failed" not in result.output
    assert result.output.rstrip().endswith("interrupted")
    assert fake.labs == {}


# --- 7. 80 columns -------------------------------------------------------------------------
def test_the_test_table_fits_80_columns_and_cuts_nothing(captured):
    long = "a-service-with-a-long-name.example.lab:8443"
    print_results([_result(0), _result(1, False, dst=long)], "five-subnets")
    text = captured.out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "…" not in text
    lines = text.splitlines()
    header = next(line for line in lines if " expected " in line)
    start, end = header.index(" to ") + 1, header.index(" expected ")
    column = "".join(line[start:end].strip() for line in lines[lines.index(header) + 2:])
    assert long in column   # folded over lines, but whole
    assert "1/2 checks passed" in text


def test_ui_table_folds_rather_than_crops(captured):
    t = ui.table("name", ("size", {"no_wrap": True}))
    t.add_row("x" * 150, "12 MB")
    ui.console().print(t)
    text = captured.out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.count("x") == 150 and "12 MB" in text


# --- 8. lab graph --format drawio -----------------------------------------------------------
@pytest.mark.parametrize("argv", [["--format", "drawio"], ["-o", "{out}"]])
def test_graph_asks_for_a_drawio_file(monkeypatch, tmp_path, argv):
    asked = []

    def draw(target, fmt):
        asked.append((target, fmt))
        return "<mxfile/>\n"

    monkeypatch.setattr(operate, "graph", draw)
    out = tmp_path / "lab.drawio"
    result = lab("graph", LAB, *[a.format(out=out) for a in argv])
    assert result.exit_code == 0, result.output
    assert asked == [(LAB, "drawio")]
    assert (out.read_text() if "-o" in argv else result.stdout) == "<mxfile/>\n"

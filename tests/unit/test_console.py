"""The console script's guard: no traceback reaches a user, every outcome has
its exit code."""

import subprocess
import sys

import click
import pytest

from orchestrator import console
from orchestrator.cli import main


def _run(monkeypatch, capsys, argv, behaviour):
    monkeypatch.setattr(sys, "argv", ["lab", *argv])
    monkeypatch.delenv("LABNET_DEBUG", raising=False)
    monkeypatch.setattr(main, "main", behaviour)
    with pytest.raises(SystemExit) as exit_:
        console.entry()
    return exit_.value.code, capsys.readouterr().err


def _raise(exc):
    def behaviour(**_):
        raise exc
    return behaviour


def test_a_bug_is_one_line_and_exit_code_70(monkeypatch, capsys):
    code, err = _run(monkeypatch, capsys, ["status"], _raise(RuntimeError("list index\nout of range")))
    assert code == 70
    assert err == ("error: internal error (RuntimeError: list index out of range); this is a bug in labnet. "
                   "Rerun with --debug to see the traceback, and please report it with the command you ran\n")


@pytest.mark.parametrize("argv", [["--debug", "status"], ["status", "--debug"]])
def test_debug_shows_the_traceback(monkeypatch, capsys, argv):
    code, err = _run(monkeypatch, capsys, argv, _raise(RuntimeError("boom")))
    assert code == 70
    assert err.startswith("Traceback (most recent call last):")
    assert "RuntimeError: boom" in err


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), click.exceptions.Abort()])
def test_ctrl_c_is_exit_code_130_quietly(monkeypatch, capsys, exc):
    code, err = _run(monkeypatch, capsys, ["deploy", "x"], _raise(exc))
    assert (code, err) == (130, "interrupted\n")


def test_a_usage_error_is_clicks_message_and_exit_code_2(monkeypatch, capsys):
    code, err = _run(monkeypatch, capsys, ["nosuchcommand"], _raise(click.UsageError("No such command 'x'.")))
    assert code == 2
    assert "Error: No such command 'x'." in err


def test_the_real_command_line_exit_codes():
    def lab(*args):
        return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True,
                              timeout=60)
    assert lab("--version").returncode == 0
    bad = lab("validate")
    assert bad.returncode == 2 and "Missing argument 'PATH'" in bad.stderr
    missing = lab("validate", "/no/such/lab")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: no lab file at /no/such/lab (a lab is a folder with a lab.yml, " \
                                     "or the file itself)"
    assert "Traceback" not in bad.stderr + missing.stderr

"""The commands that need no engine: validate, plan, render."""

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from orchestrator.cli import main

LAB = str(Path(__file__).resolve().parent.parent.parent / "labs" / "five-subnets")
BAD = str(Path(__file__).resolve().parent / "bad" / "several-errors-at-once.yml")


def test_validate_ok():
    result = CliRunner().invoke(main, ["validate", LAB])
    assert result.exit_code == 0
    assert "ok (12 nodes, 11 links)" in result.output


def test_validate_lists_every_error_and_fails():
    result = CliRunner().invoke(main, ["validate", BAD])
    assert result.exit_code == 1
    assert "4 errors in the lab file" in result.output
    assert "links[1].b: unknown node 'r2' (hint: did you mean 'r1'?" in result.output


def test_plan_yaml_and_json_agree():
    as_yaml = CliRunner().invoke(main, ["plan", LAB])
    as_json = CliRunner().invoke(main, ["plan", LAB, "--format", "json"])
    assert as_yaml.exit_code == as_json.exit_code == 0
    assert yaml.safe_load(as_yaml.output) == json.loads(as_json.output)
    assert json.loads(as_json.output)["nodes"]["r1"]["sysctls"]["net.ipv4.ip_forward"] == "1"


def test_render_writes_files(tmp_path):
    result = CliRunner().invoke(main, ["render", LAB, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pc6" / "etc/labnet/setup.sh").is_file()


def test_missing_lab_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "no lab file at" in result.output


def test_a_bad_lab_name_is_refused():
    result = CliRunner().invoke(main, ["plan", LAB, "--name", "Bad_Name"])
    assert result.exit_code == 1
    assert "'Bad_Name' is not a valid lab name" in result.output


def test_json_mode_for_scripts():
    ok = CliRunner().invoke(main, ["--json", "validate", LAB])
    assert ok.exit_code == 0
    assert json.loads(ok.stdout) == {"ok": True, "lab": "five-subnets", "nodes": 12, "links": 11, "warnings": []}
    bad = CliRunner().invoke(main, ["--json", "validate", BAD])
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["error"].endswith("4 errors in the lab file:") and len(data["problems"]) == 4

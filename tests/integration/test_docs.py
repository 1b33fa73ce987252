"""The documentation runs: the commands of the README's "Using it" that are
safe to run here (validate, plan, deploy, status, exec, ping, test, destroy),
on labs/five-subnets deployed once under another name, and every python
block of docs/testing.md as a test file of its own (the pytest plugin, with
--lab-reuse on that same deployed lab), so neither can drift from the code."""

import re
import shlex
import subprocess
import sys

import pytest
from click.testing import CliRunner

from orchestrator import lab as api
from orchestrator.cli import main
from tests.conftest import ROOT

NAME = "h4-docs"
LAB = "five-subnets"
SAFE = ("validate", "plan", "deploy", "status", "exec", "ping", "test", "destroy")


def readme_commands() -> list[list[str]]:
    """The safe `lab ...` lines of the README's "## Using it" block, as argv,
    with the lab deployed under NAME and its folder given in full."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using it", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    out = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) < 2 or words[0] != "lab" or words[1] not in SAFE:
            continue
        argv = [NAME if w == LAB else str(ROOT / w) if w == f"labs/{LAB}" else w for w in words[1:]]
        if argv[0] == "deploy":
            if str(ROOT / "labs" / LAB) not in argv:
                continue   # another lab (or backend): this test deploys five-subnets once
            argv += ["--name", NAME]
        out.append(argv)
    return out


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (ROOT / "docs" / "testing.md").read_text(), re.M | re.S)


COMMANDS = readme_commands()
DEPLOYS = [c for c in COMMANDS if c[0] == "deploy"]
DESTROYS = [c for c in COMMANDS if c[0] == "destroy"]
OTHERS = [c for c in COMMANDS if c[0] not in ("deploy", "destroy")]


def lab(argv: list[str]) -> str:
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, f"lab {shlex.join(argv)} exited {result.exit_code}:\n{result.output}"
    return result.output


def test_the_readme_has_the_commands_this_test_runs():
    assert [c[0] for c in DEPLOYS] and [c[0] for c in DESTROYS]
    assert {c[0] for c in OTHERS} == {"validate", "plan", "status", "exec", "ping", "test"}
    assert len(python_blocks()) >= 1


@pytest.fixture(scope="module")
def deployed(backend, tmp_path_factory):
    """The README's deploy commands (the first deploys, the next changes it in place)."""
    api.destroy(NAME, backend=backend)
    folder = tmp_path_factory.mktemp("h4-docs")
    try:
        outputs = [lab(argv) for argv in DEPLOYS]
        yield folder, outputs
    finally:
        api.destroy(NAME, backend=backend)


def test_the_deploy_commands_deploy_and_ping(deployed):
    _, outputs = deployed
    assert "30/30" in outputs[0], outputs[0]  # --ping: every host from every host


@pytest.mark.parametrize("argv", OTHERS, ids=[shlex.join(c) for c in OTHERS])
def test_a_readme_command_runs(deployed, argv, monkeypatch):
    folder, _ = deployed
    monkeypatch.chdir(folder)  # `--junit out.xml` writes there
    output = lab(argv)
    if argv[0] == "test":
        assert re.search(r"(\d+)/\1 checks passed", output), output
        assert (folder / argv[argv.index("--junit") + 1]).read_text().startswith("<?xml")
    if argv[0] == "status" and NAME in argv:
        assert "pc1" in output and "192.168.1.10" in output
    if argv[0] == "exec" and "traceroute" in argv:
        assert argv[-1] in output.splitlines()[-1], output  # the trace ends at its target


@pytest.mark.parametrize("n, block", list(enumerate(python_blocks())),
                         ids=[f"testing.md-python-{n}" for n in range(len(python_blocks()))])
def test_a_python_block_of_testing_md_passes(deployed, n, block):
    """Run as a test file with the pytest plugin, on the lab deployed above."""
    folder, _ = deployed
    code = re.sub(r"""pytest\.mark\.lab\((["'])\.\./labs/([\w-]+)\1\s*,\s*name=(["'])[\w-]+\3""",
                  lambda m: f"pytest.mark.lab({str(ROOT / 'labs' / m.group(2))!r}, name={NAME!r}", block)
    assert NAME in code or "pytest.mark.lab" not in code, "the block names its lab in a way this test cannot map"
    path = folder / f"test_doc_block_{n}.py"
    path.write_text(code)
    done = subprocess.run([sys.executable, "-m", "pytest", str(path), "-q", "-p", "no:cacheprovider",
                           "--lab-reuse", "--rootdir", str(folder)],
                          cwd=folder, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\d+ passed", done.stdout) and "failed" not in done.stdout, done.stdout


def test_the_destroy_command_removes_the_lab(deployed, backend):
    for argv in DESTROYS:
        lab(argv)
    assert backend.nodes(NAME) == []

"""Golden files: tests/unit/plan/input/NAME.yml -> tests/unit/plan/expected/NAME.yml.

A changed plan fails with a unified diff. After a deliberate change, rewrite
the expected files with:  LABNET_UPDATE_GOLDEN=1 pytest tests/unit/test_golden_plans.py
"""

import difflib
import os
from pathlib import Path

import pytest
import yaml

from orchestrator.compile import compile_lab
from orchestrator.model.load import read_lab

HERE = Path(__file__).parent / "plan"
INPUTS = sorted((HERE / "input").glob("*.yml"))


def render(path: Path) -> str:
    plan = compile_lab(read_lab(path)).result()  # no source: the file must not depend on where the checkout is
    return yaml.safe_dump(plan.model_dump(), sort_keys=False, width=120)


@pytest.mark.parametrize("path", INPUTS, ids=[p.stem for p in INPUTS])
def test_plan_matches_golden_file(path):
    got = render(path)
    expected_file = HERE / "expected" / path.name
    if os.environ.get("LABNET_UPDATE_GOLDEN"):
        expected_file.write_text(got)
    assert expected_file.is_file(), "no golden file; create it with LABNET_UPDATE_GOLDEN=1"
    want = expected_file.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            f"expected/{path.name}", "planned now"))
        pytest.fail(f"the plan of {path.name} changed:\n{diff}", pytrace=False)


def test_every_input_has_a_golden_file_and_no_orphans():
    expected = {p.name for p in (HERE / "expected").glob("*.yml")}
    assert expected == {p.name for p in INPUTS}

"""A class on real nodes: three students' copies of fix-the-routing dealt
broken (the first proved on the way), graded at 0; one student mends theirs
with the commands the exercise expects and is graded full marks while the
others are not; the report and the CSV say so; `class down` leaves nothing."""

import csv
import json

import pytest

from orchestrator import lab as api
from tests.conftest import LABS
from tests.conftest import run_lab as lab

PATH = str(LABS / "exercises" / "fix-the-routing")
STUDENTS = ["ann", "ben", "cat"]


@pytest.fixture(scope="module")
def klass(backend):
    for s in STUDENTS:
        api.destroy(f"fix-the-routing-{s}", backend=backend)
    out = lab("class", "up", PATH, "--students", ",".join(STUDENTS), "--json")
    assert out.returncode == 0, out.stderr
    yield json.loads(out.stdout)
    lab("class", "down", PATH)


def test_up_deploys_a_dealt_copy_per_student_and_proves_the_first(klass):
    assert sorted(klass["added"]) == STUDENTS and klass["present"] == [] and klass["proved"] is True
    again = lab("class", "up", PATH, "--students", "ann,ben", "--json")
    assert json.loads(again.stdout) == {"added": [], "present": ["ann", "ben"], "proved": None}
    rows = json.loads(lab("class", "status", PATH, "--json").stdout)
    assert [(r["student"], r["running"], r["dealt"], r["passed"] < r["total"]) for r in rows] == [
        (s, 12, True, True) for s in STUDENTS]


#: how a student mends each fault fix-the-routing may deal them
MENDS = {"r3: route to 192.168.1.0/24 removed": ["r3", "ip", "route", "add", "192.168.1.0/24", "via", "10.0.23.1"],
         "r1: route to 192.168.3.0/24 removed": ["r1", "ip", "route", "add", "192.168.3.0/24", "via", "10.0.12.2"],
         "pc4: default gateway 192.168.2.99 (not 192.168.2.1)":
             ["pc4", "ip", "route", "replace", "default", "via", "192.168.2.1"]}


def test_grades_follow_what_each_student_mended(klass, tmp_path):
    plan = json.loads(lab("plan", PATH, "--student", "ben", "--format", "json").stdout)
    for fault in plan["exercise"]["faults"]:           # ben's variant, as the teacher sees it
        node, *argv = MENDS[fault["title"]]
        assert lab("exec", "fix-the-routing-ben", node, "--", *argv).returncode == 0
    out = lab("class", "grade", PATH, "-o", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    got = {s["student"]: (s["passed"], s["total"]) for s in json.loads(out.stdout)["students"]}
    assert got["ben"] == (32, 32) and all(got[s][0] < 32 for s in ("ann", "cat"))
    with open(tmp_path / "grades.csv", newline="") as handle:
        table = {row["student"]: row for row in csv.DictReader(handle)}
    assert table["ben"]["score"] == "1.00" and table["ben"]["pc4 leaves its LAN by r2"] == "pass"
    assert table["ann"]["pc4 leaves its LAN by r2"] == "fail"
    page = (tmp_path / "report.html").read_text()
    assert page.split("<tbody>")[1].count("<tr><th>") == 3 and "<b>ann</b>" in page and "<b>ben</b>" not in page
    assert all((tmp_path / "junit" / f"{s}.xml").exists() for s in STUDENTS)


def test_down_removes_every_copy_and_nothing_else(klass, backend):
    other = "fix-the-routing-other"        # the class's prefix, another lab file: not a student's copy
    api.destroy(other, backend=backend)
    api.deploy(LABS / "two-pcs", name=other, backend=backend)
    try:
        assert "other" not in {r["student"] for r in json.loads(lab("class", "status", PATH, "--json").stdout)}
        out = lab("class", "down", PATH, "--json")
        assert sorted(json.loads(out.stdout)["removed"]) == [f"fix-the-routing-{s}" for s in STUDENTS]
        assert [s.name for s in api.list_labs(backend=backend) if s.name.startswith("fix-the-routing-")] == [other]
    finally:
        api.destroy(other, backend=backend)


def test_a_class_of_an_exercise_that_proves_nothing_is_not_made(backend, tmp_path):
    (tmp_path / "lab.yml").write_text("""
name: t-unsound
nodes:
  pc1: {kind: host, interfaces: {eth0: 10.0.1.10/24}}
  pc2: {kind: host, interfaces: {eth0: 10.0.1.11/24}}
  pc3: {kind: host, interfaces: {eth0: 10.0.1.12/24}}
lans:
  lan1: {members: [pc1, pc2, pc3]}
exercise:
  faults: [{link_down: {node: pc3, iface: eth0}}]
  checks: [{reach: {from: pc1, to: pc2}}]
""")
    out = lab("class", "up", str(tmp_path), "--students", "ann,ben,cat")
    assert out.returncode == 1
    assert "every check of the exercise passes with its faults dealt (t-unsound-ann)" in out.stderr
    assert [s.name for s in api.list_labs(backend=backend) if s.name.startswith("t-unsound")] == []

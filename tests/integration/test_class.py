"""A class on real nodes: three students' copies of fix-the-routing dealt
broken (the first proved on the way), graded at 0; one student mends theirs
with the commands the exercise expects and is graded full marks while the
others are not; the report and the CSV say so; `class down` leaves nothing."""

import csv
import json
import os
import shutil
import subprocess
import sys

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


def mends(plan):
    """The commands that mend each fault of a student's variant of fix-the-routing
    (their own addresses: the plan as `lab plan --student` shows it)."""
    out = []
    for fault in plan["exercise"]["faults"]:
        node = plan["nodes"][fault["node"]]
        if fault["kind"] == "route_removed":
            to = fault["title"].split("route to ")[1].split()[0]
            via = next(r["via"] for r in node["routes"] if r["to"] == to)
            out.append([fault["node"], "ip", "route", "add", to, "via", via])
        else:
            assert fault["kind"] == "gateway_wrong", fault
            via = next(r["via"] for r in node["routes"] if r["origin"] == "gateway")
            out.append([fault["node"], "ip", "route", "replace", "default", "via", via])
    return out


def test_grades_follow_what_each_student_mended(klass, tmp_path):
    plan = json.loads(lab("plan", PATH, "--student", "ben", "--format", "json").stdout)
    assert "192.168." not in json.dumps(plan["nodes"])      # ben's variant: his own subnets
    for node, *argv in mends(plan):                          # ben's faults, as the teacher sees them
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
    rows = screenshot(tmp_path / "report.html", tmp_path / "report.png")
    bands = colour_bands(rows)
    assert len(bands) == 3, bands                  # one band of coloured cells per student, in the picture
    assert [("ko" in b) for b in bands] == [True, False, True]        # ann and cat failing, ben all green


OK, KO = (0xD9, 0xF2, 0xD9), (0xF7, 0xD4, 0xD4)    # report.html's pass and fail cells


def screenshot(page, png):
    """The page as headless Chromium (Debian's) draws it; run in a network
    namespace of its own (loopback only), so nothing it tries leaves it."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: scripts/bootstrap.sh installs it"
    out = subprocess.run(["unshare", "--net", chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                          "--hide-scrollbars", f"--user-data-dir={png.parent / 'chromium'}",
                          "--window-size=1400,700", f"--screenshot={png}", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and png.exists(), out.stderr[-2000:]
    keep = os.environ.get("LABNET_SCREENSHOTS")      # where CI or a doc writer keeps the picture
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(png, os.path.join(keep, png.name))
    print(f"report screenshot: {png}", file=sys.stderr)
    sys.path.insert(0, os.path.dirname(__file__))
    from pngread import read_png
    return read_png(png.read_bytes())


def colour_bands(rows):
    """The horizontal bands of the picture holding pass or fail cells, top
    to bottom, each the set of what it holds ({"ok"}, {"ko"} or both)."""
    bands, current = [], None
    for row in rows:
        seen = {name for name, colour in (("ok", OK), ("ko", KO)) if colour in row}
        if seen:
            current = current or set()
            current |= seen
        elif current is not None:
            bands.append(current)
            current = None
    if current is not None:
        bands.append(current)
    return bands


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

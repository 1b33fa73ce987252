"""The class commands' pure parts: the roster (names, files, their errors)
and the grade report (a self-contained page: a row per student, a column per
check, each failure's detail). The engine side: tests/integration/test_class.py."""

from pathlib import Path

import pytest

from orchestrator.classroom import Class, StudentRow, report_html, roster
from orchestrator.errors import UsageError
from orchestrator.plan import Plan
from orchestrator.verify.runner import Result


def test_a_roster_comes_from_a_list_or_a_file_with_comments(tmp_path):
    assert roster("alice, bob,carol") == ["alice", "bob", "carol"]
    (tmp_path / "class.txt").write_text("# group A\nalice\n\nbob   # late\n")
    assert roster(roster_file=tmp_path / "class.txt") == ["alice", "bob"]


@pytest.mark.parametrize("students, said", [
    ("alice,Bob", "--students item 2: 'Bob' is not a student name"),
    ("alice,alice", "--students item 2: 'alice' is in the roster twice"),
    (" , ", "the roster names no student"),
    ("a-very-long-student-name", "at most 16 characters"),
])
def test_a_bad_roster_says_which_name_and_why(students, said):
    with pytest.raises(UsageError, match=said):
        roster(students)


def test_a_roster_file_names_its_line(tmp_path):
    (tmp_path / "class.txt").write_text("alice\nbob smith\n")
    with pytest.raises(UsageError, match=r"class.txt:2: 'bob smith' is not a student name"):
        roster(roster_file=tmp_path / "class.txt")
    with pytest.raises(UsageError, match="cannot read the roster"):
        roster(roster_file=tmp_path / "missing.txt")
    with pytest.raises(UsageError, match="one of them"):
        roster("alice", tmp_path / "class.txt")


def result(what, ok, got="2/2 replies"):
    return Result(id=f"exercise.checks[0].{what}", kind="reach", what=what, src="pc1", dst="pc2",
                  expected="reply", got=got, ok=ok, seconds=0.1)


def test_the_report_has_a_row_per_student_a_column_per_check_and_the_failures():
    rows = [StudentRow("alice", "lab-alice", 12, 12, True, [result("a -> b", True), result("c -> d", True)]),
            StudentRow("bob", "lab-bob", 12, 12, True, [result("a -> b", True),
                                                        result("c -> d", False, "no reply <from r3>")]),
            StudentRow("carol", "lab-carol", 0, 0, False, error="lab 'lab-carol' is not deployed")]
    klass = Class(path=Path("/labs/lab"), plan=Plan(lab="lab", source="/labs/lab/lab.yml", nodes={}, links=[]))
    page = report_html(klass, rows, ["a -> b", "c -> d"])
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page.split("<body>")[0]
    assert page.split("<tbody>")[1].count("<tr><th>") == 3          # the head row apart
    assert '<td class="s">2/2</td><td class="s">100 %</td>' in page
    assert '<td class="s">1/2</td><td class="s">50 %</td>' in page
    assert "<b>bob</b> · 2. c -&gt; d: expected reply, got no reply &lt;from r3&gt;" in page   # escaped
    assert "lab &#x27;lab-carol&#x27; is not deployed" in page


def test_the_class_commands_defaults_are_the_librarys():
    from orchestrator import classroom
    from orchestrator.cli.classroom import class_group
    for command, default in (("up", classroom.DEFAULT_PARALLEL), ("status", classroom.CHECK_PARALLEL),
                             ("grade", classroom.CHECK_PARALLEL)):
        option = next(p for p in class_group.commands[command].params if p.name == "parallel")
        assert option.default == default, command

"""JUnit XML from lab test results, parsed back."""

import datetime as dt
import xml.etree.ElementTree as ET

from orchestrator.verify.junit import junit_tree, write_junit
from orchestrator.verify.runner import Result


def result(what, ok=True, error=False, got="1/2 replies, 0.1 ms", detail=""):
    return Result(id=f"expect[0].{what}", kind="reach", what=what, src="pc1", dst="pc2", expected="reply",
                  got=got, ok=ok, seconds=0.25, detail=detail, error=error)


RESULTS = [result("reach pc1 -> pc2 icmp"),
           result("path <a> & \"b\"", ok=False, got="r1 -> r3 -> pc6", detail="hops: 10.0.0.1, *"),
           result("broken", ok=False, error=True, got="could not run the probe in pc1: \x1b[31mgone\x00")]


def test_counts_and_structure(tmp_path):
    path = write_junit(tmp_path / "out" / "junit.xml", "five", RESULTS)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "five"
    counts = (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped"))
    assert counts == ("3", "1", "1", "0")
    assert float(suite.get("time")) == 0.75
    dt.datetime.fromisoformat(suite.get("timestamp"))
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["reach pc1 -> pc2 icmp", 'path <a> & "b"', "broken"]
    assert {c.get("classname") for c in cases} == {"labnet.five.reach"}
    assert [c.get("time") for c in cases] == ["0.250"] * 3
    assert cases[0].find("failure") is None and cases[0].find("error") is None


def test_failure_and_error_say_what_was_seen():
    root = junit_tree("five", RESULTS).getroot()
    cases = root.find("testsuite").findall("testcase")
    failure = cases[1].find("failure")
    assert failure.get("message") == "expected reply, got r1 -> r3 -> pc6"
    assert failure.get("type") == "ExpectationFailed"
    assert failure.text.splitlines() == ["pc1 -> pc2", "expected: reply", "got: r1 -> r3 -> pc6",
                                         "hops: 10.0.0.1, *"]
    error = cases[2].find("error")
    assert cases[2].find("failure") is None
    assert error.get("type") == "ProbeError"
    assert "\x1b" not in error.get("message") and "\x00" not in error.text  # not valid in XML 1.0
    assert "system-out" in [c.tag for c in cases[0]]


def test_empty_run_is_a_valid_document(tmp_path):
    path = write_junit(tmp_path / "j.xml", "empty", [])
    root = ET.parse(path).getroot()
    assert root.find("testsuite").get("tests") == "0"
    assert path.read_text().startswith("<?xml version='1.0' encoding='utf-8'?>")

"""JUnit XML for `lab test --junit FILE`: one testsuite per lab, one testcase
per check. A check that failed is a <failure> (the network is not as
expected); a probe that could not run is an <error>. The layout is the one
Jenkins, GitLab, GitHub test reporters and pytest's own --junitxml use."""

from __future__ import annotations

import datetime as _dt
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from .runner import Result

_BAD_XML = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))


def _text(value: str) -> str:
    """XML 1.0 cannot carry most control characters, not even escaped."""
    return value.translate(_BAD_XML)


def junit_tree(lab: str, results: Sequence[Result], timestamp: _dt.datetime | None = None) -> ET.ElementTree:
    failures = sum(1 for r in results if not r.ok and not r.error)
    errors = sum(1 for r in results if r.error)
    total = sum(r.seconds for r in results)
    stamp = (timestamp or _dt.datetime.now(_dt.UTC)).replace(microsecond=0).isoformat()
    root = ET.Element("testsuites", name="lab test", tests=str(len(results)), failures=str(failures),
                      errors=str(errors), time=f"{total:.3f}")
    suite = ET.SubElement(root, "testsuite", name=lab, tests=str(len(results)), failures=str(failures),
                          errors=str(errors), skipped="0", time=f"{total:.3f}", timestamp=stamp,
                          hostname=socket.gethostname())
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"labnet.{lab}.{r.kind}", name=_text(r.what),
                             time=f"{r.seconds:.3f}")
        if not r.ok:
            tag = "error" if r.error else "failure"
            body = [f"{r.src} -> {r.dst}", f"expected: {r.expected}", f"got: {r.got}"]
            if r.detail:
                body.append(r.detail)
            node = ET.SubElement(case, tag, message=_text(f"expected {r.expected}, got {r.got}"),
                                 type="ProbeError" if r.error else "ExpectationFailed")
            node.text = _text("\n".join(body))
        out = ET.SubElement(case, "system-out")
        out.text = _text(f"{r.id}: {r.src} -> {r.dst}: {r.got} ({r.attempts} attempt"
                         f"{'s' if r.attempts != 1 else ''}, {r.seconds:.3f} s)")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: str | Path, lab: str, results: Sequence[Result]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(lab, results).write(path, encoding="utf-8", xml_declaration=True)
    return path

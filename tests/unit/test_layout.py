"""The test tree itself: pytest imports test files by their base name (there
is no package per folder), so two test files of one name in different
folders break the collection of the whole suite."""

import collections
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_no_two_test_files_share_a_name():
    names = collections.Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [n for n, k in names.items() if k > 1] == []

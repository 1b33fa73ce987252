"""labnode.bounded: JSON decoding with size, depth and item limits.

Whatever the input (deep nesting, huge strings, many items, random bytes,
truncated documents), loads() returns the value json would, or raises
BoundedError; never RecursionError, MemoryError or anything else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labnode import bounded
from labnode.bounded import MAX_DEPTH, BoundedError, loads, measure

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab[]{},:"\\\n\u00e9\u2713'), max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=25,
)


def depth_of(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


def items_of(value) -> int:
    """What measure() counts: each container's entries (an empty one counts one)."""
    if isinstance(value, list):
        return max(len(value), 1) + sum(map(items_of, value))
    if isinstance(value, dict):
        return max(len(value), 1) + sum(map(items_of, value.values()))
    return 0


def nest(depth: int, kinds: str) -> str:
    """`depth` containers nested inside each other, kinds cycling through `kinds`."""
    opening = "".join('[' if kinds[i % len(kinds)] == "[" else '{"k":' for i in range(depth))
    closing = "".join("]" if kinds[i % len(kinds)] == "[" else "}" for i in reversed(range(depth)))
    return opening + "0" + closing


def only_bounded_errors(data, **limits):
    """loads(data) or the BoundedError it raised; any other exception fails the test."""
    try:
        return loads(data, **limits)
    except BoundedError as exc:
        assert exc.kind in {"size", "depth", "items", "encoding", "syntax"}
        assert str(exc)
        return exc


def test_the_measured_crash_input_is_refused_by_depth():
    with pytest.raises(BoundedError) as info:
        loads("[" * 30000)
    assert info.value.kind == "depth" and "deeper than 32" in str(info.value)
    with pytest.raises(BoundedError, match="deeper"):
        loads(b'{"a":' * 30000)


def test_depth_limit_is_exact():
    assert loads(nest(MAX_DEPTH, "[{")) is not None
    with pytest.raises(BoundedError, match="deeper"):
        loads(nest(MAX_DEPTH + 1, "[{"))
    assert loads(nest(3, "["), max_depth=3) == [[[0]]]
    with pytest.raises(BoundedError):
        loads(nest(4, "["), max_depth=3)


def test_brackets_inside_strings_and_escapes_do_not_count():
    text = json.dumps({"m": "[" * 5000 + '\\"[[[' + "{" * 5000, "n": ['"]]]\\']})
    assert loads(text, max_depth=2) == json.loads(text)
    assert measure('["\\\\", [[1]]]') == (3, 4)  # the string ends at the second quote


def test_size_and_item_limits():
    assert loads(b"[1]", max_bytes=3) == [1]
    with pytest.raises(BoundedError) as info:
        loads(b"[1] ", max_bytes=3)
    assert info.value.kind == "size"
    many = "[" + ",".join(["0"] * 1001) + "]"
    assert len(loads(many, max_items=1001)) == 1001
    with pytest.raises(BoundedError) as info:
        loads(many, max_items=1000)
    assert info.value.kind == "items"


@pytest.mark.parametrize("data, kind", [
    (b"\xff\xfe", "encoding"),
    (b'"\xc3"', "encoding"),
    ("\ufeff{}", "syntax"),
    ("NaN", "syntax"),
    ("[Infinity]", "syntax"),
    ("1" * 5000, "syntax"),              # over Python's integer digit limit: a plain ValueError in json
    ('{"a": 1', "syntax"),
    ('"unterminated', "syntax"),
    ("", "syntax"),
])
def test_what_json_refuses_is_a_bounded_error_too(data, kind):
    with pytest.raises(BoundedError) as info:
        loads(data)
    assert info.value.kind == kind


@settings(max_examples=60, deadline=None, database=None)
@given(json_values)
def test_measure_counts_depth_and_items_exactly(value):
    text = json.dumps(value, ensure_ascii=False)
    assert measure(text) == (depth_of(value), items_of(value))
    assert loads(text.encode()) == json.loads(text)


@settings(max_examples=60, deadline=None, database=None)
@given(st.integers(0, 3000), st.sampled_from(["[", "{", "[{", "{[["]), st.integers(0, 40))
def test_any_depth_is_decoded_or_refused_cleanly(depth, kinds, cut):
    text = nest(depth, kinds)
    result = only_bounded_errors(text)
    assert isinstance(result, BoundedError) == (depth > MAX_DEPTH)
    truncated = text[:max(0, len(text) - cut - 1)]  # never a whole document
    assert isinstance(only_bounded_errors(truncated), BoundedError)


@settings(max_examples=150, deadline=None, database=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_bounded_error(data):
    only_bounded_errors(data, max_bytes=300)


@settings(max_examples=150, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from('[]{},:"\\ 0a-eE.+tnulfrs'), max_size=300))
def test_json_looking_noise_only_raises_bounded_error(text):
    result = only_bounded_errors(text, max_depth=5)
    if not isinstance(result, BoundedError):
        assert result == json.loads(text) and depth_of(result) <= 5


@settings(max_examples=5, deadline=None, database=None)
@given(st.integers(bounded.MAX_BYTES - 2, bounded.MAX_BYTES + 2), st.sampled_from(["x", "[", "0,"]))
def test_huge_inputs_near_the_size_cap(size, unit):
    text = (unit * size)[:size]
    result = only_bounded_errors(text)
    expected = "size" if size > bounded.MAX_BYTES else {"x": "syntax", "[": "depth", "0,": "items"}[unit]
    assert isinstance(result, BoundedError) and result.kind == expected


def test_load_file_reads_at_most_the_cap(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text('{"a": [1, 2]}')
    assert bounded.load_file(str(path)) == {"a": [1, 2]}
    path.write_bytes(b"[" + b" " * 100 + b"]")
    with pytest.raises(BoundedError) as info:
        bounded.load_file(str(path), max_bytes=50)
    assert info.value.kind == "size"
    with pytest.raises(OSError):
        bounded.load_file(str(tmp_path / "missing.json"))

"""Bounded JSON decoding for bytes an outsider could have written.

json.loads recurses once per nesting level (a 30 000-deep `[[[...` raises
RecursionError, which is not a ValueError and used to kill the chat server and
the routing daemon) and accepts any size.  loads() checks the input first:

  * size:  at most `max_bytes` bytes (characters, for a str);
  * depth: arrays/objects nested at most `max_depth` deep, measured by one
    linear regex pass that skips JSON strings (escapes included) before
    json.loads ever runs, so json never recurses deeper than that;
  * items: at most `max_items` entries of arrays and objects, in total (an
    empty one counts as one), counted in the same pass.

Anything refused, and anything json itself refuses (bad UTF-8, bad syntax,
NaN/Infinity, integers over Python's digit limit), raises BoundedError, a
ValueError whose `kind` says which check failed and whose text says why.
"""

from __future__ import annotations

import itertools
import json
import re

MAX_BYTES = 1 << 20       # a JSON message: far above any chat packet or control request
MAX_FILE_BYTES = 4 << 20  # a JSON file (configs, status): big labs, still bounded memory
MAX_DEPTH = 32            # real documents here nest 1-4 deep; json's C scanner is safe to ~1000
MAX_ITEMS = 200_000       # values in all arrays/objects together (a 1 MiB `[0,0,...]` has 500 000)

# A complete JSON string: possessive, so matching is linear (no backtracking).
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_STRUCTURE = re.compile(r"[^\[\]{},]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class BoundedError(ValueError):
    """Input refused by loads(): too big, too deep, too many items, or not JSON.

    kind is one of "size", "depth", "items", "encoding", "syntax"; detail is
    the message without its "not valid JSON: " lead, for callers with their own.
    """

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.detail = detail or message


def measure(text: str) -> tuple[int, int]:
    """(deepest nesting, number of items) of a JSON text, without parsing it.

    Strings are skipped whole, so brackets and commas inside them do not
    count; an unterminated string counts as structure (the check errs on the
    side of refusing, and json refuses such a text anyway).
    """
    structure = _NOT_STRUCTURE.sub("", _STRING.sub("", text))
    commas = structure.count(",")
    brackets = structure.replace(",", "")
    depth = max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)
    openers = brackets.count("[") + brackets.count("{")
    return depth, commas + openers


def _syntax(detail: str) -> BoundedError:
    return BoundedError("syntax", f"not valid JSON: {detail}", detail)


def _no_constant(name: str):
    raise _syntax(f"{name} is not a JSON value")


def loads(data: bytes | bytearray | memoryview | str, *, max_bytes: int = MAX_BYTES,
          max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS):
    """json.loads with limits; raises BoundedError (and only that) on bad input."""
    if len(data) > max_bytes:
        raise BoundedError("size", f"JSON larger than {max_bytes} bytes")
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise BoundedError("encoding", "not valid UTF-8") from None
    depth, items = measure(text)
    if depth > max_depth:
        raise BoundedError("depth", f"JSON nested deeper than {max_depth} levels")
    if items > max_items:
        raise BoundedError("items", f"JSON with more than {max_items} items")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except BoundedError:
        raise
    except (ValueError, RecursionError) as exc:  # RecursionError: cannot happen after the depth check
        if isinstance(exc, json.JSONDecodeError):
            raise _syntax(f"{exc.msg}: line {exc.lineno} column {exc.colno}") from None
        raise _syntax(str(exc)[:200]) from None


def load_file(path: str, *, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH,
              max_items: int = MAX_ITEMS * 4):
    """The JSON document in a file; OSError if it cannot be read, else as loads()."""
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    return loads(data, max_bytes=max_bytes, max_depth=max_depth, max_items=max_items)


def load_config(path: str, error: type[Exception], **limits: int):
    """The JSON document in a config file, or `error` saying in one line why
    not (it cannot be read, it is not JSON, it is too big or too deep)."""
    try:
        return load_file(path, **limits)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from None
    except BoundedError as exc:
        raise error(f"{path} is not valid JSON: {exc.detail}") from None

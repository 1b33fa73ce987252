"""Units a lab file and the command line share: durations (50ms, 1.5s, 2m),
percentages (2%), rates (10mbit), sizes (256m). One parser each.

Every function raises UnitError (a UsageError, and a ValueError so that the
lab-file models turn it into a problem with its place) with a message that
says what to write instead.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UnitError

_NUM = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(_NUM + r"\s*(us|ms|s|m)?")
_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_RATE_UNITS = {"kbit": 1, "mbit": 1000, "gbit": 1_000_000}
#: the longest delay `impair` and `links[].impair` accept
MAX_DELAY_S = 60.0


def _seconds(text: str, unit_required: bool) -> float | None:
    """'1.5s' -> 1.5, '500ms' -> 0.5, '5' -> 5.0 (None when a unit is required)."""
    m = _DURATION.fullmatch(text.strip().lower())
    if not m or (unit_required and m.group(2) is None):
        return None
    return float(m.group(1)) * _SECONDS[m.group(2) or "s"]


def parse_duration(value: Any) -> float:
    """5, 2.5, "5s", "500ms", "1m" -> seconds (a bare number is seconds)."""
    if isinstance(value, bool):
        raise UnitError(f"expected a duration like 5s or 500ms, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise UnitError(f"a duration cannot be negative, got {value}")
        return float(value)
    seconds = _seconds(value, unit_required=False) if isinstance(value, str) else None
    if seconds is None:
        raise UnitError(f"{value!r} is not a duration; write seconds like 5, 5s or 500ms")
    return seconds


def parse_duration_ms(text: str, option: str = "--delay") -> float:
    """A delay: '50ms' -> 50.0, '1.5s' -> 1500.0, '250us' -> 0.25. A bare number is an error."""
    seconds = _seconds(text, unit_required=True)
    if seconds is None:
        raise UnitError(f"{option} {text!r}: give a time with its unit, e.g. 50ms, 1.5s or 250us")
    if seconds > MAX_DELAY_S:
        raise UnitError(f"{option} {text!r}: more than {MAX_DELAY_S:g} s is not a useful delay")
    return round(seconds * 1000, 9)


def parse_percent(text: str, option: str = "--loss") -> float:
    """'2%' or '2' -> 2.0, between 0 and 100."""
    m = re.fullmatch(_NUM + r"\s*%?", text.strip())
    if not m:
        raise UnitError(f"{option} {text!r}: give a percentage, e.g. 2% or 0.5%")
    value = float(m.group(1))
    if value > 100:
        raise UnitError(f"{option} {text!r}: a percentage is at most 100%")
    return value


def parse_rate_kbit(text: str, option: str = "--rate") -> int:
    """'10mbit' -> 10000, '512kbit' -> 512, '1gbit' -> 1000000 (kbit/s)."""
    m = re.fullmatch(_NUM + r"\s*(kbit|mbit|gbit)", text.strip().lower())
    if not m:
        hint = " (rates are in bits: mbit, not mb or mbps)" if re.search(r"\d\s*[kmg]b", text.lower()) else ""
        raise UnitError(f"{option} {text!r}: give a rate with its unit, e.g. 512kbit, 10mbit "
                        f"or 1gbit{hint}")
    value = float(m.group(1)) * _RATE_UNITS[m.group(2)]
    if value < 8:
        raise UnitError(f"{option} {text!r}: the smallest rate is 8kbit")
    if value > 32_000_000:
        raise UnitError(f"{option} {text!r}: the largest rate is 32gbit")
    return int(value)


def format_rate(kbit: int) -> str:
    """10000 -> '10mbit', 1500 -> '1500kbit'."""
    if kbit >= 1_000_000 and kbit % 1_000_000 == 0:
        return f"{kbit // 1_000_000}gbit"
    if kbit >= 1000 and kbit % 1000 == 0:
        return f"{kbit // 1000}mbit"
    return f"{kbit}kbit"


_SIZE_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size_bytes(value: Any, option: str = "memory") -> int:
    """'256m' -> 268435456; k, m, g (or kib, mib, gib, kb, mb, gb: all powers of 1024)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UnitError(f"{option} {value!r}: expected a size like 256m or 1g")
    m = re.fullmatch(_NUM + r"\s*([kmg])(?:i?b)?", str(value).strip().lower())
    if not m:
        raise UnitError(f"{option} {value!r}: give a size with its unit, like 256m or 1g")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


def format_size(n: int) -> str:
    """268435456 -> '256m'."""
    for unit, factor in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n / 1024**2:.1f}m"

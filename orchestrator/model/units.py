"""Units of link impairments: times (50ms), percentages (2%), rates (10mbit).

Shared by the lab file (links[].impair) and `lab impair`; they raise
ValueError with a message that says what to write instead.
"""

from __future__ import annotations

import re

_NUM = r"(\d+(?:\.\d+)?)"
_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_RATE_UNITS = {"kbit": 1, "mbit": 1000, "gbit": 1_000_000}


def parse_duration_ms(text: str, option: str = "--delay") -> float:
    """'50ms' -> 50.0, '1.5s' -> 1500.0, '250us' -> 0.25. A bare number is an error."""
    m = re.fullmatch(_NUM + r"\s*(us|ms|s)", text.strip().lower())
    if not m:
        raise ValueError(f"{option} {text!r}: give a time with its unit, e.g. 50ms, 1.5s or 250us")
    value = float(m.group(1)) * _TIME_UNITS[m.group(2)]
    if value > 60_000:
        raise ValueError(f"{option} {text!r}: more than 60 s is not a useful delay")
    return value


def parse_percent(text: str, option: str = "--loss") -> float:
    """'2%' or '2' -> 2.0, between 0 and 100."""
    m = re.fullmatch(_NUM + r"\s*%?", text.strip())
    if not m:
        raise ValueError(f"{option} {text!r}: give a percentage, e.g. 2% or 0.5%")
    value = float(m.group(1))
    if value > 100:
        raise ValueError(f"{option} {text!r}: a percentage is at most 100%")
    return value


def parse_rate_kbit(text: str, option: str = "--rate") -> int:
    """'10mbit' -> 10000, '512kbit' -> 512, '1gbit' -> 1000000 (kbit/s)."""
    m = re.fullmatch(_NUM + r"\s*(kbit|mbit|gbit)", text.strip().lower())
    if not m:
        hint = " (rates are in bits: mbit, not mb or mbps)" if re.search(r"\d\s*[kmg]b", text.lower()) else ""
        raise ValueError(f"{option} {text!r}: give a rate with its unit, e.g. 512kbit, 10mbit "
                         f"or 1gbit{hint}")
    value = float(m.group(1)) * _RATE_UNITS[m.group(2)]
    if value < 8:
        raise ValueError(f"{option} {text!r}: the smallest rate is 8kbit")
    if value > 32_000_000:
        raise ValueError(f"{option} {text!r}: the largest rate is 32gbit")
    return int(value)

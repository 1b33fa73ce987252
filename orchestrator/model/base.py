"""Building blocks of the lab-file models: the strict base class and the
parsers that turn addresses into ipaddress objects with messages a student
can act on."""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_interface_address(value: Any) -> ipaddress.IPv4Interface:
    """'10.0.1.10/24' -> IPv4Interface, with messages a student can act on."""
    if not isinstance(value, str):
        raise ValueError(f"expected an address like 10.0.1.10/24, got {value!r}")
    text = value.strip()
    if "/" not in text:
        raise ValueError(
            f"'{text}' has no prefix length; write the address with its subnet "
            f"size, like {text}/24"
        )
    try:
        return ipaddress.IPv4Interface(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is not an IPv4 address with a prefix length "
            "(expected like 10.0.1.10/24)"
        ) from None


def parse_address(value: Any) -> ipaddress.IPv4Address:
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 address like 10.0.1.1, got {value!r}")
    text = value.strip()
    if "/" in text:
        raise ValueError(
            f"'{text}' has a prefix length; write just the address, like "
            f"{text.split('/')[0]}"
        )
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an IPv4 address (expected like 10.0.1.1)") from None


def parse_network(value: Any) -> ipaddress.IPv4Network:
    if not isinstance(value, str):
        raise ValueError(f"expected a subnet like 10.0.2.0/24, got {value!r}")
    text = value.strip()
    if text == "default":
        return ipaddress.IPv4Network("0.0.0.0/0")
    if "/" not in text:
        raise ValueError(f"'{text}' has no prefix length; write a subnet like {text}/24")
    try:
        return ipaddress.IPv4Network(text)
    except ValueError:
        try:
            loose = ipaddress.IPv4Network(text, strict=False)
        except ValueError:
            raise ValueError(
                f"'{text}' is not an IPv4 subnet (expected like 10.0.2.0/24)"
            ) from None
        raise ValueError(
            f"'{text}' has host bits set; the subnet is {loose}"
        ) from None

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
        address = ipaddress.IPv4Interface(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is not an IPv4 address with a prefix length "
            "(expected like 10.0.1.10/24)"
        ) from None
    reserved = _reserved_range(ipaddress.IPv4Network(address.ip))
    if reserved:
        raise ValueError(f"'{text}' is {_RESERVED[reserved]} ({reserved}): an interface needs a unicast address, "
                         "like 10.0.1.10/24")
    return address


#: ranges no interface on a link can be in (RFC 6890), and what they are
_RESERVED = {
    ipaddress.IPv4Network("0.0.0.0/8"): "in 'this network'",
    ipaddress.IPv4Network("127.0.0.0/8"): "a loopback address",
    ipaddress.IPv4Network("224.0.0.0/4"): "a multicast address",
    ipaddress.IPv4Network("240.0.0.0/4"): "a reserved address",
}


def _reserved_range(net: ipaddress.IPv4Network) -> ipaddress.IPv4Network | None:
    return next((r for r in _RESERVED if net.overlaps(r)), None)


def parse_link_subnet(value: Any) -> ipaddress.IPv4Network:
    """A subnet interface addresses are taken from (a link's or a LAN's
    prefix, a pool): as parse_network, clear of loopback, multicast and
    reserved ranges."""
    net = parse_network(value)
    reserved = _reserved_range(net)
    if reserved:
        raise ValueError(f"{net} overlaps {reserved}, where no interface address can be; use a private range "
                         "like 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
    return net


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


#: pydantic's error kinds, said in the words of a lab file
_EXPECTED = {"int_type": "a whole number", "int_from_float": "a whole number", "int_parsing": "a whole number",
             "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
             "bool_parsing": "true or false", "string_type": "a string", "dict_type": "a mapping (key: value)",
             "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
             "list_type": "a list", "tuple_type": "a list"}
_BOUNDS = {"less_than_equal": "at most", "less_than": "less than", "greater_than_equal": "at least",
           "greater_than": "more than"}


def _shown(value: Any) -> str:
    """A value as a message shows it: YAML's words for YAML's values."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def plain_message(err: Any) -> str:
    """One of pydantic's errors (a dict of ErrorDetails) in the words of a lab file."""
    kind = err["type"]
    got = _shown(err.get("input"))
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind in _BOUNDS:
        bound = next(iter(err.get("ctx", {}).values()), "")
        return f"must be {_BOUNDS[kind]} {bound}, got {got}"
    if kind in ("string_too_short", "too_short"):
        least = err.get("ctx", {}).get("min_length", "")
        return f"needs at least {least} {'characters' if kind == 'string_too_short' else 'items'}, got {got}"
    message = str(err["msg"])
    message = message[0].lower() + message[1:]
    if "input" in err and not isinstance(err["input"], (dict, list)):
        message += f", got {got}"
    return message


# --- IPv6 (docs/ipv6.md) -------------------------------------------------------------------------

#: ranges no written IPv6 interface address can be in, and why
_RESERVED6 = {
    ipaddress.IPv6Network("fe80::/10"): ("a link-local address: the kernel makes one on every interface "
                                         "by itself", "write a global or unique-local address (fd00::/8)"),
    ipaddress.IPv6Network("ff00::/8"): ("a multicast address", "an interface needs a unicast address"),
    ipaddress.IPv6Network("::/128"): ("the unspecified address", "an interface needs a unicast address"),
    ipaddress.IPv6Network("::1/128"): ("the loopback address", "an interface needs a unicast address"),
    ipaddress.IPv6Network("::ffff:0:0/96"): ("an IPv4-mapped address", "write the IPv4 address as 'address:'"),
}


def _reserved6(net: ipaddress.IPv6Network) -> tuple[ipaddress.IPv6Network, tuple[str, str]] | None:
    return next(((r, why) for r, why in _RESERVED6.items() if net.overlaps(r)), None)


def parse_interface_address6(value: Any) -> ipaddress.IPv6Interface:
    """'2001:db8:1::10/64' -> IPv6Interface, with messages a student can act on."""
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv6 address like 2001:db8:1::10/64, got {value!r}")
    text = value.strip()
    if "/" not in text:
        raise ValueError(f"'{text}' has no prefix length; write the address with its subnet size, like {text}/64")
    try:
        address = ipaddress.IPv6Interface(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an IPv6 address with a prefix length (expected like "
                         "2001:db8:1::10/64)") from None
    found = _reserved6(ipaddress.IPv6Network(address.ip))
    if found:
        why, hint = found[1]
        raise ValueError(f"'{text}' is {why} ({found[0]}); {hint}")
    return address


def parse_address6(value: Any) -> ipaddress.IPv6Address:
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv6 address like 2001:db8:1::1, got {value!r}")
    text = value.strip()
    if "/" in text:
        raise ValueError(f"'{text}' has a prefix length; write just the address, like {text.split('/')[0]}")
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an IPv6 address (expected like 2001:db8:1::1)") from None


def parse_network6(value: Any) -> ipaddress.IPv6Network:
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv6 subnet like 2001:db8:1::/64, got {value!r}")
    text = value.strip()
    if text == "default":
        return ipaddress.IPv6Network("::/0")
    if "/" not in text:
        raise ValueError(f"'{text}' has no prefix length; write a subnet like {text}/64")
    try:
        return ipaddress.IPv6Network(text)
    except ValueError:
        try:
            loose = ipaddress.IPv6Network(text, strict=False)
        except ValueError:
            raise ValueError(f"'{text}' is not an IPv6 subnet (expected like 2001:db8:1::/64)") from None
        raise ValueError(f"'{text}' has host bits set; the subnet is {loose}") from None


def parse_link_subnet6(value: Any) -> ipaddress.IPv6Network:
    """A subnet IPv6 interface addresses are taken from: clear of link-local,
    multicast and the other special ranges."""
    net = parse_network6(value)
    found = _reserved6(net)
    if found or net.prefixlen == 0:
        why = found[1][0] if found else "every address"
        raise ValueError(f"{net} overlaps {found[0] if found else '::/0'} ({why}); use a unique-local range "
                         "(fd00::/8) or the documentation range 2001:db8::/32")
    return net


def is_v6(value: Any) -> bool:
    """Whether a written address or subnet is IPv6 (it has a colon)."""
    return isinstance(value, str) and ":" in value

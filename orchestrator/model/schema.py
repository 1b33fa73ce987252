"""A JSON Schema of the lab file, generated from the model.

Pydantic describes the long forms; the short forms the loader also accepts
(`eth0: 10.0.1.10/24`, `[a, b]` links, `pc1:eth0` ends and members, a pool as
a bare prefix, `to: default`) are added here, so editors that read the schema
accept what `lab validate` accepts. The shipped copy is schema/lab.schema.json
(`lab schema` prints it; a unit test keeps the two equal).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .. import PROJECT_ROOT
from . import expect
from .topology import Topology

SCHEMA_FILE = PROJECT_ROOT / "schema" / "lab.schema.json"

_STRING_FORMS = {
    "InterfaceSpec": {"type": "string", "description": "address with prefix length, e.g. 10.0.1.10/24"},
    "Endpoint": {"type": "string", "description": "node or node:interface, e.g. pc1:eth0"},
    "LanMember": {"type": "string", "description": "node or node:interface, e.g. pc1"},
    "PoolSpec": {"type": "string", "description": "a prefix, e.g. 192.168.0.0/16"},
    "StackSpec": {"enum": ["kernel", "user"], "description": "user: our own TCP/IP stack (docs/user-stack.md)"},
}


def _short_forms(defs: dict[str, Any]) -> None:
    for name, alternative in _STRING_FORMS.items():
        defs[f"{name}Form"] = {"anyOf": [{"$ref": f"#/$defs/{name}"}, alternative]}
    defs["LinkSpecForm"] = {"anyOf": [
        {"$ref": "#/$defs/LinkSpec"},
        {"type": "array", "items": {"$ref": "#/$defs/EndpointForm"}, "minItems": 2, "maxItems": 2,
         "description": "[a, b]"},
    ]}
    defs["InterfaceSpecForm"]["anyOf"].append({"type": "null"})
    defs["PoolSpec"]["required"] = ["prefix"]


def _retarget(node: Any) -> Any:
    """Point every $ref at a model with a short form to its *Form."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        if name in _STRING_FORMS or name == "LinkSpec":
            return {**node, "$ref": f"#/$defs/{name}Form"}
        return {k: _retarget(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget(v) for v in node]
    return node


_DURATION = {"anyOf": [{"type": "number", "minimum": 0},
                       {"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*(us|ms|s|m)?\\s*$"}]}
_ONE_OR_MORE = "one name or a list of them"
_KIND_DOCS = {
    "reach": "a probe from `from` gets an answer from each of `to`",
    "deny": "the opposite of reach: no answer, the port closed or filtered, no echo",
    "path": "traceroute from `from` reaches `to` through exactly the routers of `via`",
    "service": "an HTTP GET of `http` on `node` answers with `status` (default: below 400)",
    "chat": "each client joins the chat server and its message comes back",
    "nat_source": "an HTTP request from `from` shows up in `to`'s access log as coming from `seen_as`",
    "all_pairs": "reach from every one of the nodes to every other: hosts, routers, all or a list",
    "dns": "a lookup of `lookup` from `from` (through the lab's resolver, or `server`) answers `address`",
    "dhcp": "`host` holds a lease from the pool of its LAN (with `address`: that one) and the pool's router "
            "as its gateway",
    "neigh": "`node`'s neighbour (ARP) table, once it has resolved `address`, holds `mac` for it (default: the "
             "plan's MAC for that address)",
}
_FIELD_DOCS = {
    "name": "what the check is called in reports",
    "wait": "keep retrying until it holds or this much time passed, e.g. 10s (default 0: one attempt)",
    "timeout": "how long one probe may take, e.g. 500ms (default 1 s; 2 s for dns; 3 s for service, chat, "
               "nat_source; dhcp: how long to wait for a lease, 10 s)",
    "from": "the node the probe runs in",
    "to": "node, node.iface or an IPv4 address",
    "via": "the routers on the way, in order ([]: directly connected)",
    "seen_as": "node, node.iface or an IPv4 address: the source the server must see",
    "http": "the URL path, from the root (default /)",
    "clients": "the nodes that join",
    "server": "node, node.iface or an IPv4 address",
    "node": "service: node, node.iface or an IPv4 address; neigh: the node whose neighbour table is read",
    "log": "the file or folder holding the server's http access log",
    "same_as": "a file of the lab folder the body must equal (sha256 compared), e.g. www/big.txt",
    "lookup": "the DNS name looked up, e.g. www.example.lab",
    "address": "dns: node, node.iface or an IPv4 address that must be in the answer; dhcp: the address leased; "
               "neigh: the neighbour's (node, node.iface or an IPv4 address)",
    "host": "the host whose interface asks by DHCP",
    "mac": "a MAC (02:00:00:00:00:01) or node.iface (its MAC)",
    "iface": "its interface (default: the one written dhcp)",
    "rcode": "the answer's code: NOERROR (default), NXDOMAIN, SERVFAIL or REFUSED",
}


def _expect_kind(kind: str) -> dict[str, Any]:
    """One kind's keys, with the forms the parser accepts (durations, a name for a list)."""
    model = expect.MODELS[kind]
    schema = model.model_json_schema(by_alias=True)
    props = schema["properties"]
    for key, prop in props.items():
        if key in _FIELD_DOCS:
            prop["description"] = _FIELD_DOCS[key]
        if prop.get("type") == "array" and prop.get("items") == {"type": "string"}:
            props[key] = {"anyOf": [{"type": "string"}, prop], "title": prop.pop("title"),
                          "description": prop.pop("description", _ONE_OR_MORE)}
    for key in ("wait", "timeout"):
        props[key] = {**_DURATION, "title": key.title(), "description": _FIELD_DOCS[key]}
    props["name"] = {"type": "string", "title": "Name", "description": _FIELD_DOCS["name"]}
    if "proto" in props:
        props["proto"] = {"anyOf": [{"enum": ["icmp"]}, {"type": "string", "pattern": "^(tcp|udp):[0-9]+$"}],
                          "default": "icmp", "title": "Proto",
                          "description": "icmp (ping), tcp:PORT (a connect) or udp:PORT (a UDP echo)"}
    if "method" in props:
        props["method"] = {"anyOf": [{"enum": list(expect.METHODS)},
                                     {"type": "string", "pattern": "^tcp:[0-9]+$"}],
                           "default": "icmp", "title": "Method",
                           "description": "what traceroute sends: icmp echo (default), udp to high ports, "
                                          "tcp connects (tcp = tcp:80, or tcp:PORT)"}
    if "http" in props:
        props["http"]["pattern"] = "^/"
    out = {**schema, "description": _KIND_DOCS[kind]}
    if kind == "all_pairs":  # also written bare: `all_pairs: hosts`, `all_pairs: [pc1, pc2]`
        return {"anyOf": [out, props["nodes"], {"type": "null"}], "title": "AllPairs",
                "description": _KIND_DOCS[kind]}
    return out


def _expect_defs(defs: dict[str, Any]) -> dict[str, Any]:
    """The expect items: exactly one kind (each with its keys), and name / wait / timeout."""
    names = {kind: "Expect" + expect.MODELS[kind].__name__.removesuffix("Spec") for kind in expect.KINDS}
    for kind, name in names.items():
        defs[name] = _expect_kind(kind)
    common = {key: prop for key, prop in _expect_kind("reach")["properties"].items() if key in expect.COMMON}
    defs["Expectation"] = {
        "type": "object", "title": "Expectation",
        "description": "one check of `lab test`: " + ", ".join(expect.KINDS) + " (see docs/testing.md)",
        "properties": {**{k: {"$ref": f"#/$defs/{n}"} for k, n in names.items()}, **common},
        "additionalProperties": False,
        "oneOf": [{"required": [kind]} for kind in expect.KINDS],
    }
    return {"type": "array", "items": {"$ref": "#/$defs/Expectation"}, "title": "Expect",
            "description": "what `lab test` checks (docs/testing.md)"}


def lab_schema() -> dict[str, Any]:
    schema = copy.deepcopy(Topology.model_json_schema())
    defs = schema.pop("$defs")
    # name is optional in the file (it defaults to the folder's name)
    schema["required"] = [r for r in schema.get("required", []) if r != "name"]
    schema = _retarget(schema)
    defs = {k: _retarget(v) for k, v in defs.items()}
    _short_forms(defs)
    defs["RuleSpec"]["properties"]["port"] = {
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535},
                  {"type": "string", "pattern": "^[0-9]+(-[0-9]+)?$"}, {"type": "null"}],
        "default": None, "title": "Port", "description": "a port (80) or a range (8000-8080)"}
    for key, example in (("delay", "50ms"), ("jitter", "5ms"), ("loss", "2%"), ("rate", "10mbit")):
        defs["ImpairSpec"]["properties"][key] = {"anyOf": [{"type": "string"}, {"type": "null"}],
                                                 "default": None, "title": key.title(),
                                                 "description": f"e.g. {example}"}
    defs["StackSpec"]["properties"]["loss"] = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}],
                                               "default": None, "title": "Loss",
                                               "description": "a random share of segments dropped, e.g. 2%"}
    defs["LimitsSpec"]["properties"]["memory"] = {
        "anyOf": [{"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?\\s*[kKmMgG]([iI]?[bB])?$"}, {"type": "null"}],
        "default": None, "title": "Memory", "description": "e.g. 256m or 1g (swap included)"}
    schema["properties"]["expect"] = _expect_defs(defs)
    for model in ("RouteSpec",):
        to = defs[model]["properties"]["to"]
        defs[model]["properties"]["to"] = {"anyOf": [to, {"const": "default"}], "title": to.get("title", "To")}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "labnet lab file (lab.yml)",
        **schema,
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    return json.dumps(lab_schema(), indent=2, sort_keys=False) + "\n"

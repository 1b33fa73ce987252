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
from .topology import Topology

SCHEMA_FILE = PROJECT_ROOT / "schema" / "lab.schema.json"

_STRING_FORMS = {
    "InterfaceSpec": {"type": "string", "description": "address with prefix length, e.g. 10.0.1.10/24"},
    "Endpoint": {"type": "string", "description": "node or node:interface, e.g. pc1:eth0"},
    "LanMember": {"type": "string", "description": "node or node:interface, e.g. pc1"},
    "PoolSpec": {"type": "string", "description": "a prefix, e.g. 192.168.0.0/16"},
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
    defs["LimitsSpec"]["properties"]["memory"] = {
        "anyOf": [{"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?\\s*[kKmMgG]([iI]?[bB])?$"}, {"type": "null"}],
        "default": None, "title": "Memory", "description": "e.g. 256m or 1g (swap included)"}
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

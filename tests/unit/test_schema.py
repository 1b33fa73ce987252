"""The shipped JSON Schema is the generated one, and it agrees with the loader
on the shipped labs and on unknown keys."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from orchestrator.model.schema import SCHEMA_FILE, schema_text

ROOT = Path(__file__).resolve().parent.parent.parent
GOOD = sorted(ROOT.glob("labs/*/lab.yml")) + sorted(ROOT.glob("tests/unit/plan/input/*.yml"))


def validator():
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_shipped_schema_is_up_to_date():
    assert SCHEMA_FILE.read_text() == schema_text(), "regenerate it: lab schema > schema/lab.schema.json"


@pytest.mark.parametrize("path", GOOD, ids=[f"{p.parent.name}/{p.name}" for p in GOOD])
def test_every_good_lab_matches_the_schema(path):
    errors = [e.message for e in validator().iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize("text,fragment", [
    ("nodes: {a: {kind: host, gatway: 10.0.0.1}}", "'gatway' was unexpected"),
    ("nodes: {a: {kind: pc}}", "'pc' is not one of"),
    ("nodes: {a: {kind: host}}\nlinks: [[a]]", "is not valid under any of the given schemas"),
    ("routing: ospf\nnodes: {}", "'ospf' is not one of"),
])
def test_schema_rejects_what_the_loader_rejects(text, fragment):
    messages = [e.message for e in validator().iter_errors(yaml.safe_load(text))]
    assert any(fragment in m for m in messages), messages


EXPECT = "nodes: {a: {kind: host}}\nexpect:\n"


@pytest.mark.parametrize("item", [
    "- all_pairs: hosts",
    "- all_pairs: [a, b]",
    "- {all_pairs: {nodes: routers, proto: 'tcp:22'}, wait: 5s}",
    "- reach: {from: a, to: b, proto: 'udp:7', timeout: 500ms}",
    "- reach: {from: a, to: [b, r1.eth1, 10.0.0.1]}",
    "- path: {from: a, to: b, via: [r1], method: tcp}",
    "- path: {from: a, to: b, via: r1, method: 'tcp:8080'}",
    "- service: {node: b, http: /x, status: 200, contains: Hi}",
    "- {chat: {server: b, clients: a}, name: talk}",
    "- nat_source: {from: a, to: b, seen_as: r1.eth1}",
])
def test_schema_accepts_every_form_of_expectation(item):
    errors = [e.message for e in validator().iter_errors(yaml.safe_load(EXPECT + item))]
    assert errors == []


@pytest.mark.parametrize("item, fragment", [
    ("- rech: {from: a, to: b}", "'rech' was unexpected"),
    ("- {reach: {from: a, to: b}, deny: {from: a, to: b}}", "is valid under each of"),
    ("- path: {from: a, to: b, via: [r1], method: ping}", "is not valid under any of the given schemas"),
    ("- reach: {from: a, to: b, proto: tcp}", "is not valid under any of the given schemas"),
    ("- reach: {from: a, too: b}", "'too' was unexpected"),
    ("- service: {node: b, http: index.html}", "does not match '^/'"),
    ("- {reach: {from: a, to: b}, wait: soon}", "is not valid under any of the given schemas"),
])
def test_schema_rejects_bad_expectations(item, fragment):
    messages = [e.message for e in validator().iter_errors(yaml.safe_load(EXPECT + item))]
    assert any(fragment in m for m in messages), messages


def test_expect_kinds_carry_their_keys_and_enums_for_editors():
    defs = json.loads(SCHEMA_FILE.read_text())["$defs"]
    assert sorted(defs["Expectation"]["properties"]) == sorted(
        ["reach", "deny", "path", "service", "chat", "nat_source", "all_pairs", "dns", "dhcp", "neigh", "name", "wait",
         "timeout"])
    assert list(defs["ExpectPath"]["properties"]) == ["name", "wait", "timeout", "family", "from", "to", "via",
                                                      "method"]
    assert defs["ExpectPath"]["properties"]["method"]["anyOf"][0] == {"enum": ["icmp", "udp", "tcp"]}
    assert defs["ExpectAllPairs"]["anyOf"][1]["anyOf"][1]["enum"] == ["hosts", "routers", "all"]

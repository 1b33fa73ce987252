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

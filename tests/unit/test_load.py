"""Loading and validating lab files: the good labs, and a catalogue of bad ones
under tests/unit/bad/, each ending with the exact '# expect:' lines it must
produce (every error at once, with its line and place)."""

from pathlib import Path

import pytest

from orchestrator.compile import compile_file, compile_text
from orchestrator.errors import LabFileNotFound, TopologyError
from orchestrator.model.load import read_lab

HERE = Path(__file__).parent
LABS = HERE.parent.parent / "labs"
BAD = sorted((HERE / "bad").glob("*.yml"))


def expected_lines(path: Path) -> list[str]:
    return [ln[len("# expect: "):] for ln in path.read_text().splitlines() if ln.startswith("# expect: ")]


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_reports_exactly_its_errors(path):
    want = expected_lines(path)
    assert want, f"{path.name} has no '# expect:' lines"
    with pytest.raises(TopologyError) as info:
        compile_file(path).result()
    assert [p.format() for p in info.value.problems] == want


def test_catalogue_covers_the_walking_skeleton_cases():
    names = {p.stem for p in BAD}
    assert {"unknown-node-in-link", "duplicate-node", "duplicate-address", "address-outside-subnet",
            "gateway-not-on-subnet", "malformed-yaml"} <= names


@pytest.mark.parametrize("lab", sorted(p.parent.name for p in LABS.glob("*/lab.yml")))
def test_shipped_labs_are_valid_without_warnings(lab):
    compiled = compile_file(LABS / lab)
    assert compiled.result().lab == lab
    assert compiled.warnings == []


def test_five_subnets_model():
    topo = read_lab(LABS / "five-subnets")
    kinds = {n: s.kind for n, s in topo.nodes.items()}
    assert sorted(n for n, k in kinds.items() if k == "router") == ["r1", "r2", "r3"]
    assert sorted(n for n, k in kinds.items() if k == "switch") == ["s1", "s2", "s3"]
    assert len([k for k in kinds.values() if k == "host"]) == 6
    assert str(topo.nodes["pc3"].gateway) == "192.168.2.1"
    assert [str(r.to) for r in topo.nodes["r2"].routes] == ["192.168.1.0/24", "192.168.3.0/24"]


def test_error_message_names_the_file_and_counts():
    with pytest.raises(TopologyError) as info:
        compile_text("nodes:\n  a: {kind: host}\nlinks:\n  - [a, b]\n", source="x/lab.yml", default_name="x").result()
    text = str(info.value)
    assert text.startswith("x/lab.yml: 1 error in the lab file:")
    assert "x/lab.yml:4: links[0].b: unknown node 'b'" in text


def test_name_defaults_to_the_folder(tmp_path):
    lab = tmp_path / "my-lab"
    lab.mkdir()
    (lab / "lab.yml").write_text("nodes:\n  a: {kind: host}\n  b: {kind: host}\nlinks:\n  - [a, b]\n")
    parsed = read_lab(lab)
    assert parsed.name == "my-lab"
    assert parsed.file == (lab / "lab.yml").resolve()
    assert compile_file(lab).result().source == str((lab / "lab.yml").resolve())


def test_missing_lab_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no lab file at") as info:
        read_lab(tmp_path)
    assert isinstance(info.value, LabFileNotFound)


def test_warnings_for_things_that_work_but_look_wrong():
    compiled = compile_text("""
name: w
nodes:
  a: {kind: host, interfaces: {eth0: 10.0.0.1/24, eth1: 10.0.1.1/24}}
  b: {kind: host, interfaces: {eth0: 10.0.0.2/24}}
  c: {kind: host}
links:
  - [a:eth0, b:eth0]
""")
    compiled.result()
    assert [w.format() for w in compiled.warnings] == [
        "line 4: nodes.a.interfaces.eth1: interface a:eth1 is declared but no link uses it "
        "(hint: add a link with end 'a:eth1')",
        "line 6: nodes.c: node 'c' is not connected to anything (hint: add a link or remove the node)",
    ]


def test_shorthand_and_long_forms_are_the_same():
    short = compile_text("name: s\nnodes:\n  a: {kind: host, interfaces: {eth0: 10.0.0.1/24}}\n"
                      "  b: {kind: host, interfaces: {eth0: 10.0.0.2/24}}\nlinks:\n  - [a, b:eth0]\n")
    long = compile_text("name: s\nnodes:\n  a: {kind: host, interfaces: {eth0: {address: 10.0.0.1/24}}}\n"
                     "  b: {kind: host, interfaces: {eth0: {address: 10.0.0.2/24}}}\n"
                     "links:\n  - {a: {node: a}, b: {node: b, iface: eth0}}\n")
    assert short.result() == long.result()

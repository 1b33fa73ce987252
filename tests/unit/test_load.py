"""Loading and validating lab files: the good labs, and a catalogue of bad ones
under tests/unit/bad/, each ending with the exact '# expect:' lines it must
produce (every error at once, with its line and place)."""

import importlib
from pathlib import Path

import pytest

from orchestrator.compile import compile_file, compile_text
from orchestrator.errors import LabFileNotFound, TopologyError
from orchestrator.model.load import read_lab

HERE = Path(__file__).parent
LABS = HERE.parent.parent / "labs"
BAD = sorted((HERE / "bad").glob("*.yml"))


def directives(path: Path, key: str) -> list[str]:
    """The '# key: ...' lines of a case (read as bytes: some cases are not UTF-8)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    return [ln[len(f"# {key}: "):] for ln in text.splitlines() if ln.startswith(f"# {key}: ")]


def expected_lines(path: Path) -> list[str]:
    return directives(path, "expect")


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_reports_exactly_its_errors(path, monkeypatch):
    want = expected_lines(path)
    assert want, f"{path.name} has no '# expect:' lines"
    for setting in directives(path, "set"):   # '# set: module.NAME=value': a bound made small for the case
        target, _, value = setting.partition("=")
        module, _, attr = target.rpartition(".")
        monkeypatch.setattr(importlib.import_module(module), attr, int(value))
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


def _one_problem(text: str) -> str:
    with pytest.raises(TopologyError) as info:
        compile_text(text, default_name="x").result()
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0].format()


def test_x_keys_hold_anchors_and_merged_keys_give_way_to_the_nodes_own():
    plan = compile_text("x-router: &router {kind: router, routing: computed}\n"
                        "nodes:\n  r1: {<<: *router}\n  r2: {<<: *router, routing: static}\n"
                        "links:\n  - [r1, r2]\n", default_name="x").result()
    assert (plan.nodes["r1"].routing, plan.nodes["r2"].routing) == ("computed", "static")


def test_an_alias_bomb_is_refused_without_being_expanded():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]  # 10**10 leaves
    text = "x-bomb:\n" + "".join(f"  {line}\n" for line in levels) + "nodes: {h: {kind: host}}\n"
    assert "more than 1,000,000 values once its aliases and merges are expanded" in _one_problem(text)


def test_merges_of_merges_are_bounded_before_they_are_made():
    levels = ["m0: &m0 {k0: 1}"] + [
        f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, 60)]  # 2**60 pairs
    text = "x-merges:\n" + "".join(f"  {line}\n" for line in levels) + "nodes: {h: {kind: host}}\n"
    assert "more than 1,000,000 values" in _one_problem(text)


@pytest.mark.parametrize("text", ["[" * 100_000, "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 2000)),
                                  "nodes: " + "{a: " * 500 + "1" + "}" * 500])
def test_deep_nesting_is_refused_without_recursing(text):
    assert "nest more than 32 deep" in _one_problem(text)


def test_the_size_bound_can_be_raised(tmp_path, monkeypatch):
    (tmp_path / "lab.yml").write_text("name: big\nnodes:\n  h1: {kind: host}\n  h2: {kind: host}\nlinks: [[h1, h2]]\n"
                                      + "# padding\n" * 200_000)   # 2 MB
    monkeypatch.setenv("LABNET_MAX_LAB_FILE_MB", "1")
    with pytest.raises(TopologyError, match=r"larger than a lab file may be \(1 MiB\)"):
        compile_file(tmp_path).result()
    monkeypatch.setenv("LABNET_MAX_LAB_FILE_MB", "3")
    assert len(compile_file(tmp_path).result().nodes) == 2


def test_limits_come_from_the_node_then_the_lab_then_the_defaults():
    plan = compile_text("limits: {pids: 300, memory: 512m}\n"
                        "nodes:\n  a: {kind: host, limits: {memory: 1g, cpus: 0.5}}\n  b: {kind: host}\n"
                        "links: [[a, b]]\n", default_name="x").result()
    a, b = plan.nodes["a"].limits, plan.nodes["b"].limits
    assert (a.pids, a.memory, a.cpus) == (300, 1024**3, 0.5)
    assert (b.pids, b.memory, b.cpus) == (300, 512 * 1024**2, 1.0)
    assert str(b) == "pids 300, memory 512m, cpus 1"
    default = compile_text("nodes:\n  a: {kind: host}\n  b: {kind: host}\nlinks: [[a, b]]\n",
                           default_name="x").result().nodes["a"].limits
    assert (default.pids, default.memory, default.cpus) == (512, 192 * 1024**2, 1.0)

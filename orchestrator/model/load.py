"""Loading lab.yml: YAML (with line numbers) -> validated Topology.

Every problem in the file is collected before anything is reported: YAML
syntax, duplicate keys, unknown keys (with a "did you mean"), wrong types,
then the consistency checks of `orchestrator.validate`. Nothing is created.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import Problem, TopologyError
from .expect import check_expectations, wired_interfaces
from .model import LabHeader, LanSpec, LinkSpec, NodeSpec, Topology
from .validate import check_topology

LAB_FILE = "lab.yml"

Loc = tuple[str | int, ...]


def resolve_lab_file(path: str | Path) -> Path:
    """A lab is named by its folder (holding lab.yml) or by the file itself."""
    p = Path(path)
    if p.is_dir():
        p = p / LAB_FILE
    if not p.is_file():
        raise FileNotFoundError(
            f"no lab file at {p} (a lab is a folder with a {LAB_FILE}, or the file itself)"
        )
    return p


def format_loc(loc: Loc) -> str:
    """('links', 3, 'b') -> 'links[3].b'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class LineMap:
    """Line numbers of every key and item of a YAML document, by path."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}

    def line_of(self, loc: Loc) -> int | None:
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            # a link written as a list: links[3].b lives at links[3][1]
            if loc[-1] in ("a", "b"):
                alt = loc[:-1] + (0 if loc[-1] == "a" else 1,)
                if alt in self.lines:
                    return self.lines[alt]
            loc = loc[:-1]
        return self.lines.get((), None)


def _walk(node: yaml.Node, loc: Loc, lines: LineMap, problems: list[Problem]) -> None:
    lines.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    Problem(
                        format_loc(loc + (key,)),
                        f"'{key}' is given twice (first on line {seen[key]})",
                        "names must be unique; rename or merge the two",
                        line=line,
                    )
                )
                continue
            if key is not None:
                seen[key] = line
                lines.lines[loc + (key,)] = line
                _walk(value_node, loc + (key,), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, loc + (i,), lines, problems)


#: libyaml's parser when PyYAML has it (ten times faster), with the same marks
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str, loader_class: type) -> tuple[yaml.Node | None, Any]:
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def parse_yaml(text: str) -> tuple[Any, LineMap, list[Problem]]:
    """Parse YAML text; return the data, where each part of it is, and problems."""
    lines = LineMap()
    problems: list[Problem] = []
    try:
        try:
            root, data = _compose(text, _FAST_LOADER)
        except yaml.YAMLError:
            # parse again with PyYAML's own parser: its messages are the clearer ones
            root, data = _compose(text, yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = (exc.problem or str(exc)).strip()
        problems.append(
            Problem("", f"not valid YAML: {problem}",
                    "check indentation and that every 'key: value' has a space after ':'",
                    line=line)
        )
        return None, lines, problems
    if root is not None:
        _walk(root, (), lines, problems)
    return data, lines, problems


def _field_names(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed at `loc` (the parent of an unknown key) within `model`."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(f.alias or n): f for n, f in current.model_fields.items()}
            field = fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            if not args:
                return []
            current = args[-1]  # dict[str, X] -> X, list[X] -> X, X | None -> X
        while typing.get_origin(current) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[0]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _problems_from(exc: ValidationError, model: type[BaseModel], prefix: Loc,
                   lines: LineMap) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        full = prefix + loc
        kind = err["type"]
        hint = ""
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            allowed = _field_names(model, loc[:-1])
            close = difflib.get_close_matches(key, allowed, n=1)
            message = f"unknown key '{key}'"
            if close:
                hint = f"did you mean '{close[0]}'?"
            elif allowed:
                hint = "allowed here: " + ", ".join(allowed)
        elif kind == "missing":
            message = f"'{loc[-1]}' is required" if loc else "a value is required"
            if loc and loc[-1] == "kind":
                hint = "one of: host, switch, router"
        elif kind == "value_error":
            message = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            message = f"{err['input']!r} is not allowed; expected {expected}"
        else:
            message = err["msg"][0].lower() + err["msg"][1:]
            if "input" in err and not isinstance(err["input"], (dict, list)):
                message += f", got {err['input']!r}"
        problems.append(Problem(format_loc(full), message, hint, line=lines.line_of(full)))
    return problems


def load_text(text: str, source: str = LAB_FILE, default_name: str | None = None,
              warnings: list[Problem] | None = None, base_dir: Path | None = None) -> Topology:
    """Validate lab file text. Raises TopologyError listing every problem.

    Warnings (things that work but are probably wrong) are appended to
    `warnings` when a list is given.
    """
    data, lines, problems = parse_yaml(text)
    if data is None and not problems:
        problems.append(Problem("", "the file is empty", "a lab needs at least 'nodes:'", line=1))
    if data is not None and not isinstance(data, dict):
        problems.append(Problem("", f"the top level must be a mapping of keys, got a {type(data).__name__}",
                                "start with 'name:', 'nodes:' and 'links:'", line=1))
        data = None
    if data is None:
        raise TopologyError(source, problems)

    try:
        header = LabHeader.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, Topology, (), lines))
        raise TopologyError(source, _sorted(problems)) from None

    nodes: dict[str, NodeSpec] = {}
    broken: set[str] = set()
    for name, raw in header.nodes.items():
        try:
            nodes[str(name)] = NodeSpec.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            broken.add(str(name))
            problems.extend(_problems_from(exc, NodeSpec, ("nodes", name), lines))
    lans: dict[str, LanSpec] = {}
    for lan_name, raw in header.lans.items():
        try:
            lans[str(lan_name)] = LanSpec.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            problems.extend(_problems_from(exc, LanSpec, ("lans", lan_name), lines))
    links: list[LinkSpec | None] = []
    for i, raw in enumerate(header.links):
        try:
            links.append(LinkSpec.model_validate(raw))
        except ValidationError as exc:
            links.append(None)
            problems.extend(_problems_from(exc, LinkSpec, ("links", i), lines))

    name = header.name if header.name is not None else default_name
    found, warned = check_topology(name, nodes, lans, links, broken, header.pools, header.routing)
    _, expect_problems = check_expectations(header.expect, nodes,
                                            wired_interfaces(nodes, lans, links, broken), broken)
    found += expect_problems
    for p in found + warned:
        object.__setattr__(p, "line", p.line or lines.line_of(_parse_where(p.where)))
    problems.extend(found)
    if base_dir is not None:
        problems.extend(_check_files(nodes, base_dir, lines))
    if warnings is not None:
        warnings.extend(warned)
    if problems:
        raise TopologyError(source, _sorted(problems))
    return Topology(name=name, description=header.description, routing=header.routing, dynamic=header.dynamic,
                    pools=header.pools, nodes=nodes, lans=lans,
                    links=[link for link in links if link is not None], expect=header.expect)


def _check_files(nodes: dict[str, NodeSpec], base_dir: Path, lines: LineMap) -> list[Problem]:
    """Folders the lab serves must exist in the lab folder."""
    problems = []
    for name, spec in nodes.items():
        for k, svc in enumerate(spec.services):
            if svc.root is not None and not (base_dir / svc.root).is_dir():
                where = ("nodes", name, "services", k, "root")
                problems.append(Problem(format_loc(where), f"there is no folder '{svc.root}' in the lab folder",
                                        "create it, or give the path of the folder to serve, "
                                        "relative to the lab folder", line=lines.line_of(where)))
    return problems


def _parse_where(where: str) -> Loc:
    """'links[3].b' -> ('links', 3, 'b')."""
    loc: list[str | int] = []
    for part in where.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]"):
            loc.append(int(part[1:-1]))
        else:
            loc.append(part)
    return tuple(loc)


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.where))


def load_lab(path: str | Path, warnings: list[Problem] | None = None) -> tuple[Topology, Path]:
    """Load and validate a lab by folder or file. Returns (topology, file path)."""
    file = resolve_lab_file(path)
    text = file.read_text(encoding="utf-8")
    default = file.parent.resolve().name
    return (load_text(text, str(file), default_name=default, warnings=warnings, base_dir=file.parent.resolve()),
            file.resolve())

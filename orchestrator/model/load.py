"""Reading lab.yml: YAML (with line numbers) -> ParsedLab, its well-formed parts.

Every problem of form is collected: YAML syntax, duplicate keys, unknown keys
(with a "did you mean"), wrong types. What the parts mean together is
checked by `orchestrator.compile`, which reports both kinds at once.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import LabFileNotFound, Problem
from ..labels import LAB_FILE
from .topology import LabHeader, LanSpec, LinkSpec, NodeSpec, Topology

Loc = tuple[str | int, ...]


def resolve_lab_file(path: str | Path) -> Path:
    """A lab is named by its folder (holding lab.yml) or by the file itself."""
    p = Path(path)
    if p.is_dir():
        p = p / LAB_FILE
    if not p.is_file():
        raise LabFileNotFound(
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


_STR = "tag:yaml.org,2002:str"


class _Builder:
    """Builds the data of a composed YAML document and, on the way, the line of
    every key and item and the keys given twice. Strings (nearly every scalar
    of a lab file) are taken as they are; other scalars, and `<<` merges, go
    through PyYAML's own safe constructor, so the data is what PyYAML's
    safe_load gives (a key given twice: its last value). An alias gives the
    object its anchor made, as with PyYAML."""

    def __init__(self, loader: Any, lines: LineMap, problems: list[Problem]):
        self.loader = loader
        self.lines = lines.lines
        self.problems = problems
        self.built: dict[int, Any] = {}

    def build(self, node: yaml.Node, loc: Loc | None) -> Any:
        if loc is not None:
            self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return node.value if node.tag == _STR else self.loader.construct_object(node, deep=True)
        known = self.built.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.SequenceNode):
            items: list[Any] = []
            self.built[id(node)] = items
            items.extend(self.build(item, None if loc is None else loc + (i,)) for i, item in enumerate(node.value))
            return items
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, loc: Loc | None) -> dict[Any, Any]:
        self.loader.flatten_mapping(node)   # `<<: *anchor` merges, as PyYAML does them
        out: dict[Any, Any] = {}
        self.built[id(node)] = out
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.build(key_node, None)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, "found unhashable key",
                    key_node.start_mark) from None
            line = key_node.start_mark.line + 1
            here: Loc | None = None
            if loc is not None and key in seen:
                self.problems.append(Problem(format_loc(loc + (key,)),
                                             f"'{key}' is given twice (first on line {seen[key]})",
                                             "names must be unique; rename or merge the two", line=line))
            elif loc is not None:
                seen[key] = line
                here = loc + (key,)
                self.lines[here] = line
            out[key] = self.build(value_node, here)
        return out


#: libyaml's parser when PyYAML has it (ten times faster), with the same marks
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str, loader_class: type, lines: LineMap, problems: list[Problem]) -> Any:
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return None if root is None else _Builder(loader, lines, problems).build(root, ())
    finally:
        loader.dispose()


def parse_yaml(text: str) -> tuple[Any, LineMap, list[Problem]]:
    """Parse YAML text; return the data, where each part of it is, and problems."""
    lines = LineMap()
    problems: list[Problem] = []
    try:
        try:
            data = _compose(text, _FAST_LOADER, lines, problems)
        except yaml.YAMLError:
            # parse again with PyYAML's own parser: its messages are the clearer ones
            lines, problems = LineMap(), []
            data = _compose(text, yaml.SafeLoader, lines, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = (exc.problem or str(exc)).strip()
        problems.append(
            Problem("", f"not valid YAML: {problem}",
                    "check indentation and that every 'key: value' has a space after ':'",
                    line=line)
        )
        return None, LineMap(), problems
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


@dataclass(eq=False)
class ParsedLab:
    """A lab file parsed: its well-formed parts, and what is wrong with the rest.

    A node whose spec does not parse stays known by name (`broken`), so that
    what refers to it is not reported a second time; a link that does not
    parse is None at its index, so every place keeps its number. Nothing is
    checked against anything else here: that is `orchestrator.compile`.
    """

    source: str                                  # the file, as messages name it
    header: LabHeader | None                     # None: the top level is unusable
    name: str | None = None
    nodes: dict[str, NodeSpec] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    lans: dict[str, LanSpec] = field(default_factory=dict)
    links: list[LinkSpec | None] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lines: LineMap = field(default_factory=LineMap)
    folder: Path | None = None                   # the lab folder: service roots live in it
    file: Path | None = None                     # the lab file itself, when read from disk

    @property
    def ok(self) -> bool:
        return self.header is not None and not self.problems


def parse_text(text: str, source: str = LAB_FILE, default_name: str | None = None,
               folder: Path | None = None) -> ParsedLab:
    """Parse lab file text into its parts; every problem found is kept, none raised."""
    data, lines, problems = parse_yaml(text)
    if data is None and not problems:
        problems.append(Problem("", "the file is empty", "a lab needs at least 'nodes:'", line=1))
    if data is not None and not isinstance(data, dict):
        problems.append(Problem("", f"the top level must be a mapping of keys, got a {type(data).__name__}",
                                "start with 'name:', 'nodes:' and 'links:'", line=1))
        data = None
    if data is None:
        return ParsedLab(source, None, problems=problems, lines=lines, folder=folder)
    try:
        header = LabHeader.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, Topology, (), lines))
        return ParsedLab(source, None, problems=problems, lines=lines, folder=folder)

    parsed = ParsedLab(source, header, name=header.name if header.name is not None else default_name,
                       problems=problems, lines=lines, folder=folder)
    for name, raw in header.nodes.items():
        try:
            parsed.nodes[str(name)] = NodeSpec.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            parsed.broken.add(str(name))
            problems.extend(_problems_from(exc, NodeSpec, ("nodes", name), lines))
    for lan_name, raw in header.lans.items():
        try:
            parsed.lans[str(lan_name)] = LanSpec.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            problems.extend(_problems_from(exc, LanSpec, ("lans", lan_name), lines))
    for i, raw in enumerate(header.links):
        try:
            parsed.links.append(LinkSpec.model_validate(raw))
        except ValidationError as exc:
            parsed.links.append(None)
            problems.extend(_problems_from(exc, LinkSpec, ("links", i), lines))
    return parsed


def parse_where(where: str) -> Loc:
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


def read_lab(path: str | Path) -> ParsedLab:
    """Read and parse a lab by folder or file (its name defaults to the folder's)."""
    file = resolve_lab_file(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return ParsedLab(str(file), None, problems=[Problem(
            "", f"the file is not UTF-8 text (byte {exc.start}: {exc.reason})",
            "save it as UTF-8", line=None)], folder=file.parent.resolve(), file=file.resolve())
    except OSError as exc:
        raise LabFileNotFound(f"cannot read the lab file {file}: {exc.strerror}") from None
    parsed = parse_text(text, str(file), default_name=file.parent.resolve().name, folder=file.parent.resolve())
    parsed.file = file.resolve()
    return parsed

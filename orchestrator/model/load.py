"""Reading lab.yml: YAML (with line numbers) -> ParsedLab, its well-formed parts.

Every problem of form is collected: YAML syntax, duplicate keys, unknown keys
(with a "did you mean"), wrong types. What the parts mean together is
checked by `orchestrator.compile`, which reports both kinds at once.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import LabFileNotFound, Problem
from ..labels import LAB_FILE
from . import variants
from .base import plain_message
from .topology import LabHeader, LanSpec, LinkSpec, NodeSpec, Topology
from .variants import Drawn

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
_MERGE = "tag:yaml.org,2002:merge"

#: Bounds on what a lab file may be, so that no input costs more than a
#: second or two and a little memory (a 20 000-node lab is under 1 MB, about
#: 100 000 YAML values, 6 levels deep):
#: its size in bytes (LABNET_MAX_LAB_FILE_MB overrides, in MiB),
MAX_FILE_BYTES = 8 * 1024 * 1024
#: how deeply mappings and lists may nest,
MAX_DEPTH = 32
#: and how many values it may hold once aliases (`*name`) and merges (`<<`)
#: are expanded: each alias counts as everything its anchor holds, so an
#: alias bomb is refused as soon as its expansion passes this.
MAX_VALUES = 1_000_000


class LabFileTooBig(Exception):
    """A bound of the lab file was passed; the message says which, `line` where."""

    def __init__(self, message: str, node: yaml.Node | None = None):
        super().__init__(message)
        self.line = node.start_mark.line + 1 if node is not None else None


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


def max_file_bytes() -> int:
    """MAX_FILE_BYTES, or LABNET_MAX_LAB_FILE_MB (a whole number of MiB) when set."""
    raw = os.environ.get("LABNET_MAX_LAB_FILE_MB", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw) * 1024 * 1024
    return MAX_FILE_BYTES


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
        self.sizes: dict[int, int] = {}     # node -> how many values it holds, expanded
        self.merged: dict[int, int] = {}    # mapping node -> how many of its pairs came from `<<`
        self.values = 0                     # values so far, aliases expanded
        self.depth = 0

    def _count(self, n: int, node: yaml.Node) -> None:
        self.values += n
        if self.values > MAX_VALUES:
            raise LabFileTooBig(f"the file holds more than {MAX_VALUES:,} values once its aliases and merges "
                                "are expanded (an alias bomb?)", node)

    def build(self, node: yaml.Node, loc: Loc | None) -> Any:
        if loc is not None:
            self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            self._count(1, node)
            return node.value if node.tag == _STR else self.loader.construct_object(node, deep=True)
        known = self.built.get(id(node))
        if known is not None:   # an alias: the same object again, counted as all it holds
            self._count(self.sizes.get(id(node), 1), node)
            return known
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LabFileTooBig(f"mappings and lists nest more than {MAX_DEPTH} deep", node)
        before = self.values
        self._count(1, node)
        try:
            if isinstance(node, yaml.SequenceNode):
                items: list[Any] = []
                self.built[id(node)] = items
                items.extend(self.build(item, None if loc is None else loc + (i,))
                             for i, item in enumerate(node.value))
                return items
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            return self.loader.construct_object(node, deep=True)
        finally:
            self.depth -= 1
            self.sizes[id(node)] = self.values - before

    def _flatten(self, node: yaml.MappingNode, depth: int = 0) -> None:
        """Merge `<<: *anchor` (or a list of them) into the mapping, as PyYAML's
        flatten_mapping does, but counting: merges of merges grow the mapping
        geometrically, so they are bounded before they are made."""
        if depth > MAX_DEPTH:
            raise LabFileTooBig(f"merges ('<<') nest more than {MAX_DEPTH} deep", node)
        if id(node) in self.merged or not any(k.tag == _MERGE for k, _ in node.value):
            return
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            parts = []
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping (or a list of mappings) for merging, but found {source.id}",
                        source.start_mark)
                self._flatten(source, depth + 1)
                parts.append(source.value)
            for part in reversed(parts):  # earlier sources win, as in PyYAML
                merged.extend(part)
                self._count(2 * len(part), node)   # a key and a value each, built again below
        node.value = merged + own
        self.merged[id(node)] = len(merged)

    def _mapping(self, node: yaml.MappingNode, loc: Loc | None) -> dict[Any, Any]:
        self._flatten(node)
        from_merges = self.merged.get(id(node), 0)   # the first pairs: what `<<` brought in
        out: dict[Any, Any] = {}
        self.built[id(node)] = out
        seen: dict[Any, int] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.build(key_node, None)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, "found unhashable key",
                    key_node.start_mark) from None
            line = key_node.start_mark.line + 1
            here: Loc | None = None
            if index < from_merges:   # merged in: the mapping's own keys override it, silently
                if loc is not None:
                    here = loc + (key,)
                    self.lines.setdefault(here, line)
            elif loc is not None and key in seen:
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


_PLAIN = "a lab file is a few levels of mappings and lists (under 10), with few aliases ('*name') of small anchors"


#: what to do about some of the YAML parser's complaints (else: indentation)
_YAML_HINTS = (
    ("for merging", "'<<: *name' merges the mapping an anchor '&name' holds (or a list of such)"),
    ("undefined alias", "write the anchor ('&name') before any alias of it ('*name')"),
    ("unhashable key", "keys are plain names or numbers, not lists or mappings"),
    ("'\\t'", "indent with spaces; YAML does not allow tabs"),
)


def _refused(message: str, hint: str, line: int | None = None) -> tuple[None, LineMap, list[Problem]]:
    return None, LineMap(), [Problem("", message, hint, line=line)]


def parse_yaml(text: str) -> tuple[Any, LineMap, list[Problem]]:
    """Parse YAML text; return the data, where each part of it is, and problems.
    The text is bounded in size, nesting depth and expanded values (see the
    MAX_ constants): past a bound it is refused, quickly, as one problem."""
    limit = max_file_bytes()
    if len(text) > limit:
        return _refused(f"the file is {len(text):,} characters, more than a lab file may be ({_size(limit)})",
                        "split the lab, or set LABNET_MAX_LAB_FILE_MB to allow more")
    nul = text.find("\0")
    if nul >= 0:
        return _refused(f"binary data, not a text file (a NUL character at offset {nul})",
                        "name the lab's YAML file (lab.yml)", line=text.count("\n", 0, nul) + 1)
    lines = LineMap()
    problems: list[Problem] = []
    try:
        try:
            data = _compose(text, _FAST_LOADER, lines, problems)
        except yaml.YAMLError as exc:
            if "maximum nesting depth" in str(exc):  # libyaml's own bound (1000 levels)
                raise LabFileTooBig(f"mappings and lists nest more than {MAX_DEPTH} deep") from None
            # parse again with PyYAML's own parser: its messages are the clearer ones
            lines, problems = LineMap(), []
            data = _compose(text, yaml.SafeLoader, lines, problems)
    except LabFileTooBig as exc:
        return _refused(str(exc), _PLAIN, line=exc.line)
    except RecursionError:   # PyYAML's pure-Python parser recurses per level
        return _refused(f"mappings and lists nest more than {MAX_DEPTH} deep", _PLAIN)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = (exc.problem or str(exc)).strip()
        hint = next((h for words, h in _YAML_HINTS if words in problem),
                    "check indentation and that every 'key: value' has a space after ':'")
        problems.append(Problem("", f"not valid YAML: {problem}", hint, line=line))
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
            message = plain_message(err)
        problems.append(Problem(format_loc(full), message, hint, line=lines.line_of(full)))
    return problems


@dataclass
class Unread:
    """What the parts of a lab file that did not validate leave unknown.

    The parts that did validate are checked all the same (every problem at
    once), but nothing is reported that is only a consequence of a part that
    could not be read: an address that did not parse leaves its port's
    address unknown, not wrong; a link that did not parse leaves its ends'
    cabling unknown; and so on. `orchestrator.compile` reads this to know what
    not to conclude.
    """

    #: node -> its fields not read: 'gateway', 'routes', 'services', 'interfaces'
    #: (all of them), 'interfaces.eth0' (that interface's address), ...
    fields: dict[str, set[str]] = field(default_factory=dict)
    #: LANs known by name only (their spec did not validate)
    lans: set[str] = field(default_factory=set)
    #: (LAN, member index) of members whose address was not read
    members: set[tuple[str, int]] = field(default_factory=set)
    #: nodes named by a link or LAN that did not validate (or whose subnet did
    #: not): what they are cabled to, or on which subnet, is not known
    loose: set[str] = field(default_factory=set)
    #: top-level keys not read: 'routing', 'pools', 'links', 'name', ...
    sections: set[str] = field(default_factory=set)

    def of(self, node: str) -> set[str]:
        return self.fields.get(node, set())


@dataclass(eq=False)
class ParsedLab:
    """A lab file parsed: its well-formed parts, and what is wrong with the rest.

    A node whose spec does not validate is in `broken`, and stays known by
    name; when its kind is readable it is in `nodes` too, with every field
    that did validate (what did not is in `unread`), so that it is checked
    as far as it can be and what refers to it is not reported a second time.
    A link that does not parse is None at its index, so every place keeps its
    number. Nothing is checked against anything else here: that is
    `orchestrator.compile`.
    """

    source: str                                  # the file, as messages name it
    header: LabHeader | None                     # None: the top level is unusable
    name: str | None = None
    nodes: dict[str, NodeSpec] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    lans: dict[str, LanSpec] = field(default_factory=dict)
    links: list[LinkSpec | None] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unread: Unread = field(default_factory=Unread)
    lines: LineMap = field(default_factory=LineMap)
    folder: Path | None = None                   # the lab folder: service roots live in it
    student: str | None = None                   # whose variant of the exercise this is (model/variants.py)
    seed: str = ""                               # the lab file's own name: what variants are drawn from
    drawn: Drawn | None = None                   # the student's values, when the exercise has variants
    file: Path | None = None                     # the lab file itself, when read from disk

    @property
    def ok(self) -> bool:
        return self.header is not None and not self.problems

    @property
    def name_only(self) -> set[str]:
        """Nodes known by name only: their kind could not be read."""
        return {n for n in self.broken if n not in self.nodes}


def parse_text(text: str, source: str = LAB_FILE, default_name: str | None = None,
               folder: Path | None = None, student: str | None = None) -> ParsedLab:
    """Parse lab file text into its parts; every problem found is kept, none raised.
    With `student`, the file as that student's variant of its exercise has it."""
    data, lines, problems = parse_yaml(text)
    if data is None and not problems:
        problems.append(Problem("", "the file is empty", "a lab needs at least 'nodes:'", line=1))
    if data is not None and not isinstance(data, dict):
        problems.append(Problem("", f"the top level must be a mapping of keys, got a {type(data).__name__}",
                                "start with 'name:', 'nodes:' and 'links:'", line=1))
        data = None
    if data is None:
        return ParsedLab(source, None, problems=problems, lines=lines, folder=folder)
    # top-level keys starting with 'x-' are the file's own (a place for &anchors), as in Compose files
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    seed = data["name"] if isinstance(data.get("name"), str) else (default_name or "")
    data, drawn = _variant(data, seed, student, problems)
    unread = Unread()
    try:
        header = LabHeader.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, Topology, (), lines))
        # every top-level key that did validate is used all the same (and what
        # a misspelt key meant to give is unknown): only without nodes is there nothing to check
        unread.sections = _unread_keys(exc, LabHeader)
        rest = {k: v for k, v in data.items() if k not in unread.sections and k in LabHeader.model_fields}
        try:
            header = LabHeader.model_validate(rest)
        except ValidationError:
            return ParsedLab(source, None, problems=problems, unread=unread, lines=lines, folder=folder)

    parsed = ParsedLab(source, header, name=header.name if header.name is not None else default_name,
                       problems=problems, unread=unread, lines=lines, folder=folder, student=student,
                       seed=seed, drawn=drawn)
    for name, raw in header.nodes.items():
        try:
            parsed.nodes[str(name)] = NodeSpec.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            parsed.broken.add(str(name))
            problems.extend(_problems_from(exc, NodeSpec, ("nodes", name), lines))
            spec, fields = _salvage_node(raw, exc)
            if spec is not None:
                parsed.nodes[str(name)] = spec
                unread.fields[str(name)] = fields
    for lan_name, raw in header.lans.items():
        try:
            parsed.lans[str(lan_name)] = LanSpec.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            problems.extend(_problems_from(exc, LanSpec, ("lans", lan_name), lines))
            lan, members, loose = _salvage_lan(raw, exc)
            unread.loose |= loose
            if lan is None:
                unread.lans.add(str(lan_name))
            else:
                parsed.lans[str(lan_name)] = lan
                unread.members |= {(str(lan_name), m) for m in members}
    for i, raw in enumerate(header.links):
        try:
            parsed.links.append(LinkSpec.model_validate(raw))
        except ValidationError as exc:
            problems.extend(_problems_from(exc, LinkSpec, ("links", i), lines))
            link, loose = _salvage_link(raw, exc)
            parsed.links.append(link)
            unread.loose |= loose
    return parsed


def _variant(data: dict[str, Any], seed: str, student: str | None,
             problems: list[Problem]) -> tuple[dict[str, Any], Drawn | None]:
    """The exercise's variants checked (with or without a student), and the
    file's values as the student's variant has them."""
    exercise = data.get("exercise")
    raw = exercise.get("variants") if isinstance(exercise, dict) else None
    if raw is None:
        return data, None
    found, said = variants.parse(raw, data.get("nodes"))
    if found is not None:
        said = variants.check(found, data)
    problems.extend(said)
    if found is None or said or student is None:
        return data, None
    return variants.apply(found, data, seed, student)


def _error_locs(exc: ValidationError) -> list[tuple[Loc, str]]:
    """(where, kind) of each error, without pydantic's validator names."""
    return [(tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))), err["type"])
            for err in exc.errors()]


def _unread_keys(exc: ValidationError, model: type[BaseModel]) -> set[str]:
    """The keys of a mapping that did not validate as `model`: each key with an
    error, and for a misspelt key (an unknown one close to a field) the field
    it meant to give too."""
    fields = [f.alias or n for n, f in model.model_fields.items()]
    keys: set[str] = set()
    for loc, kind in _error_locs(exc):
        if not loc:
            continue
        keys.add(str(loc[0]))
        if kind == "extra_forbidden" and len(loc) == 1:
            keys.update(difflib.get_close_matches(str(loc[0]), fields, n=1))
    return keys


def _ends_named(raw: Any) -> set[str]:
    """The node names a link or LAN member that did not validate mentions, as far as they can be read."""
    if isinstance(raw, list):
        items = raw
    elif isinstance(raw, dict) and ("a" in raw or "b" in raw):
        items = [raw.get("a"), raw.get("b")]
    else:
        items = [raw]
    names: set[str] = set()
    for item in items:
        if isinstance(item, dict):
            item = item.get("node")
        if isinstance(item, str) and item.strip():
            names.add(item.strip().partition(":")[0])
    return names


def _salvage_node(raw: Any, exc: ValidationError) -> tuple[NodeSpec | None, set[str]]:
    """The node with what did not validate left out, and what was left out;
    None when not even its kind can be read."""
    if not isinstance(raw, dict) or "kind" not in raw:
        return None, set()
    data = dict(raw)
    fields = [f.alias or n for n, f in NodeSpec.model_fields.items()]
    unread: set[str] = set()
    for _ in range(3):   # each pass leaves out what failed; what is left validates on the first or second
        for loc, kind in _error_locs(exc):
            key = str(loc[0]) if loc else "kind"
            if key == "kind":
                return None, unread
            ifaces = data.get("interfaces")
            if key == "interfaces" and len(loc) >= 2 and isinstance(ifaces, dict) and loc[1] in ifaces:
                ifaces = data["interfaces"] = dict(ifaces)
                value = ifaces[loc[1]]
                if len(loc) >= 3 and loc[2] == "[key]":
                    del ifaces[loc[1]]
                    unread.add("interfaces")
                elif len(loc) >= 3 and loc[2] == "mac" and isinstance(value, dict):
                    ifaces[loc[1]] = {k: v for k, v in value.items() if k != "mac"}
                else:   # its address, or the interface as a whole: known by name, its address unknown
                    ifaces[loc[1]] = {"mac": value["mac"]} if isinstance(value, dict) and "mac" in value else None
                    unread.add(f"interfaces.{loc[1]}")
                continue
            data.pop(key, None)
            if kind == "extra_forbidden" and len(loc) == 1:
                unread.update(difflib.get_close_matches(key, fields, n=1))
            else:
                unread.add(key)
        try:
            return NodeSpec.model_validate(data), unread
        except ValidationError as again:
            exc = again
    return None, unread


def _salvage_link(raw: Any, exc: ValidationError) -> tuple[LinkSpec | None, set[str]]:
    """The link with a bad cost, prefix or impairment left out, and the nodes
    whose cabling is then unsure; None (its ends' cabling unknown) when its ends
    cannot be read."""
    keys = _unread_keys(exc, LinkSpec) if isinstance(raw, dict) else {"a"}
    ends = _ends_named(raw)
    if keys & {"a", "b"} or not all(k in ("prefix", "cost", "impair") for k in keys):
        return None, ends
    try:
        link = LinkSpec.model_validate({k: v for k, v in raw.items() if k not in keys})
    except ValidationError:
        return None, ends
    return link, ({link.a.node, link.b.node} if "prefix" in keys else set())


def _salvage_lan(raw: Any, exc: ValidationError) -> tuple[LanSpec | None, set[int], set[str]]:
    """The LAN with what did not validate left out: members whose address (or
    another key) is bad stay members with their address unknown (their
    indexes returned). None when its members or switch cannot be read. And
    the nodes whose cabling or subnet is then unsure."""
    if not isinstance(raw, dict):
        return None, set(), set()
    members = raw.get("members")
    named = _ends_named(members)
    data = dict(raw)
    unsure: set[int] = set()
    for loc, _kind in _error_locs(exc):
        key = str(loc[0]) if loc else "members"
        if key == "members" and len(loc) >= 3 and isinstance(members, list) and isinstance(loc[1], int) \
                and loc[2] not in ("node", "iface") and isinstance(members[loc[1]], dict):
            data["members"] = list(data["members"])
            data["members"][loc[1]] = {k: v for k, v in members[loc[1]].items() if k in ("node", "iface")}
            unsure.add(loc[1])
        elif key in ("members", "switch"):
            return None, set(), named
        else:
            data.pop(key, None)
    try:
        lan = LanSpec.model_validate(data)
    except ValidationError:
        return None, set(), named
    left_out = set(raw) - set(data) - {"cost"}   # a subnet or a switch not known: the members' subnet is not
    return lan, unsure, (named if left_out else set())


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


def read_lab(path: str | Path, student: str | None = None) -> ParsedLab:
    """Read and parse a lab by folder or file (its name defaults to the folder's);
    with `student`, as that student's variant of its exercise."""
    file = resolve_lab_file(path)
    limit = max_file_bytes()

    def refused(message: str, hint: str, line: int | None = None) -> ParsedLab:
        return ParsedLab(str(file), None, problems=[Problem("", message, hint, line=line)],
                         folder=file.parent.resolve(), file=file.resolve())

    try:
        with file.open("rb") as handle:
            raw = handle.read(limit + 1)   # never more than the bound, whatever the file is
    except OSError as exc:
        raise LabFileNotFound(f"cannot read the lab file {file}: {exc.strerror}") from None
    if len(raw) > limit:
        return refused(f"the file is larger than a lab file may be ({_size(limit)})",
                       "split the lab, or set LABNET_MAX_LAB_FILE_MB to allow more")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return refused(f"not UTF-8 text at byte {exc.start}", "save the file as UTF-8 text",
                       line=raw.count(b"\n", 0, exc.start) + 1)
    parsed = parse_text(text, str(file), default_name=file.parent.resolve().name, folder=file.parent.resolve(),
                        student=student)
    parsed.file = file.resolve()
    return parsed

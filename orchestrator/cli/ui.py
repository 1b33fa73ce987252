"""How the `lab` command shows things: output modes, consoles, progress, errors.

Rich is imported the first time something is printed with it, so commands
that print plain text (and `lab --help`) start without it.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ..errors import LabError, Problem, TopologyError
from ..progress import Event

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console
    from rich.status import Status
    from rich.table import Table

    from ..backend.protocol import ExecResult

T = TypeVar("T")


class Output:
    """How results are shown: set by `lab --quiet` / `lab --json`."""

    quiet = False   # no progress lines
    json = False    # results (and errors) as one JSON document on stdout
    debug = False   # tracebacks of internal errors (see orchestrator.console)


OUT = Output()
_consoles: dict[str, Console] = {}


def console() -> Console:
    """Rich console on standard output."""
    return _console("out")


def err_console() -> Console:
    """Rich console on standard error (progress, warnings, errors)."""
    return _console("err")


def _console(which: str) -> Console:
    if which not in _consoles:
        from rich.console import Console
        _consoles[which] = Console(stderr=which == "err", highlight=False, soft_wrap=True)
    return _consoles[which]


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def no_json(command: str, instead: str) -> None:
    """A command with no JSON output calls this first: under --json it stops
    with exit code 2 and says so, rather than print text a script would take
    for JSON. no_json("graph", "it draws the lab: use --format mermaid")."""
    if OUT.json:
        fail(f"lab {command} has no JSON output; {instead}", code=2)


def problem_json(problem: Problem, source: str | None = None) -> dict[str, Any]:
    """A lab file's problem (error or warning) as --json shows it."""
    return {"file": source, "line": problem.line, "path": problem.where, "message": problem.message,
            "hint": problem.hint or None}


def table(*columns: str | tuple[str, dict[str, Any]], title: str | None = None) -> Table:
    """A table that stays readable on an 80-column terminal: light lines, no
    padding at the edges, and cells that wrap (or, for names and addresses,
    fold) rather than being cut off. A column is its header, or (header,
    options of rich's add_column: no_wrap=True for short fixed cells,
    overflow="fold" for words that must not be cut, ratio=, min_width=...)."""
    from rich import box
    from rich.table import Table
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), title=title,
              title_justify="left")
    for column in columns:
        header, options = (column, {}) if isinstance(column, str) else column
        t.add_column(header, **{"overflow": "fold", **options})
    return t


def warn(text: str) -> None:
    from rich.markup import escape
    err_console().print(f"[yellow]warning:[/yellow] {escape(text)}", markup=True, highlight=False)


def count(n: int, noun: str) -> str:
    """count(1, "link") -> '1 link', count(2, "link") -> '2 links'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


#: warnings shown one by one; past this, the rest are counted
MAX_WARNINGS_SHOWN = 20


def warn_all(problems: list[Problem]) -> None:
    """Print the lab file's warnings, the first MAX_WARNINGS_SHOWN of them and a
    count of the rest (a generated lab can have thousands alike)."""
    for w in problems[:MAX_WARNINGS_SHOWN]:
        warn(w.format())
    rest = len(problems) - MAX_WARNINGS_SHOWN
    if rest > 0:
        warn(f"... and {rest} more warning{'s' if rest != 1 else ''} (lab --json validate lists them all)")


class ProgressView:
    """Renders library progress events: a live status line on a terminal,
    one line per finished stage everywhere."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self.status: Status | None = None

    def __enter__(self) -> ProgressView:
        if not OUT.quiet:
            self.status = err_console().status("working…")
            self.status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.__exit__(None, None, None)

    def __call__(self, event: Event) -> None:
        if OUT.quiet:
            return
        text = f"{event.stage}: {event.message}"
        if event.total:
            text = f"{event.stage} [{event.done}/{event.total}]: {event.message}"
        from rich.markup import escape
        if self.status is not None:
            self.status.update(escape(text[: max(40, err_console().width - 4)]))   # one line, even at 80 columns
        finished_stage = bool(event.total) and event.done == event.total
        notable = event.stage == "image" and (event.message.endswith(("built", "up to date"))
                                              or event.message.startswith(("bootstrapping", "building")))
        if self.verbose or (not finished_stage and (notable or event.total is None and event.stage == "destroy")):
            err_console().print(f"[dim]•[/dim] {escape(text)}")   # -v: every item, the last one too
        if finished_stage:
            err_console().print(f"[dim]•[/dim] {escape(_stage_done(event))}")


def _stage_done(event: Event) -> str:
    words = {"create": "nodes started", "wire": "links wired", "configure": "nodes configured",
             "destroy": "nodes removed", "verify": "probes run", "test": "checks run",
             "impair": "impairments applied", "repair": "nodes re-wired", "dhcp": "DHCP clients asked"}
    return f"{event.stage}: {event.total} {words.get(event.stage, 'done')}"


def fail(message: str, code: int = 1, problems: list[str] | None = None,
         details: list[dict[str, Any]] | None = None) -> NoReturn:
    """Print an error (and its problems, one a line) and exit with `code`. Under
    --json the error is {"error": message, "problems": details or problems} on
    stdout too: `details` are the problems as objects (see problem_json)."""
    from rich.markup import escape
    if OUT.json:
        listed = details if details is not None else problems
        emit_json({"error": message, **({"problems": listed} if listed else {})})
    err_console().print(f"[bold red]error:[/bold red] {escape(message)}", markup=True, highlight=False)
    for line in problems or []:
        err_console().print("  " + line, markup=False, highlight=False)
    sys.exit(code)


def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the library; turn its errors into messages and exit code 1."""
    return run_with(1, fn, *args, **kwargs)


def run_with(code: int, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the library; turn its errors into messages and exit code `code`."""
    try:
        return fn(*args, **kwargs)
    except TopologyError as exc:
        count = len(exc.problems)
        fail(f"{exc.source}: {count} error{'s' if count != 1 else ''} in the lab file:",
             problems=[p.format(exc.source) for p in exc.problems],
             details=[problem_json(p, exc.source) for p in exc.problems], code=code)
    except LabError as exc:
        fail(str(exc), code=code)
    except KeyboardInterrupt:
        err_console().print("interrupted")
        sys.exit(130)


def relay(result: ExecResult) -> NoReturn:
    """Pass on what a command in a node printed, and its exit code."""
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    sys.exit(result.exit_code)

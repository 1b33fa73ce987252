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
        if self.status is not None:
            self.status.update(text[:160])
        finished_stage = event.total is not None and event.done == event.total
        notable = event.stage == "image" and (event.message.endswith(("built", "up to date"))
                                              or event.message.startswith(("bootstrapping", "building")))
        if self.verbose or finished_stage or notable or (event.stage == "destroy" and event.total is None):
            err_console().print(f"[dim]•[/dim] {text if not finished_stage else _stage_done(event)}")


def _stage_done(event: Event) -> str:
    words = {"create": "nodes started", "wire": "links wired", "configure": "nodes configured",
             "destroy": "nodes removed", "verify": "probes run"}
    return f"{event.stage}: {event.total} {words.get(event.stage, 'done')}"


def fail(message: str, code: int = 1, problems: list[str] | None = None) -> NoReturn:
    from rich.markup import escape
    if OUT.json:
        emit_json({"error": message, **({"problems": problems} if problems else {})})
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
             problems=[p.format(exc.source) for p in exc.problems], code=code)
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

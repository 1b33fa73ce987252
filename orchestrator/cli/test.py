"""`lab test NAME|PATH`: check a running lab's expectations, print a table,
write JUnit XML."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from ..verify import DEFAULT_WORKERS
from .complete import lab_names
from .ui import OUT, ProgressView, console, emit_json, err_console, run, table, warn

if TYPE_CHECKING:
    from ..verify.runner import Result


def print_results(results: Sequence[Result], lab: str = "", verbose: bool = False,
                  seconds: float | None = None) -> int:
    """Print the results table and a summary (under --json, results_json);
    return the exit code (0: all passed)."""
    code = 1 if any(not r.ok for r in results) else 0
    if OUT.json:
        emit_json(results_json(results, lab, seconds))
        return code
    from rich.markup import escape
    if not results:
        warn(f"lab {lab} has no expectations (add an 'expect:' section to its lab.yml; see docs/testing.md)")
        return 0
    shown = table(("", {"no_wrap": True}), "what", "from", "to", ("expected", {"overflow": "fold"}),
                  ("got", {"overflow": "fold"}), ("time", {"no_wrap": True, "justify": "right"}),
                  title=f"lab test {lab}".strip())
    for r in results:
        mark = "[green]ok[/green]" if r.ok else ("[red]ERROR[/red]" if r.error else "[red]FAIL[/red]")
        got = escape(r.got) if r.ok else f"[red]{escape(r.got)}[/red]"
        auto = r.what.startswith(f"{r.kind} {r.src} -> {r.dst}")
        what = (r.kind + r.what[len(f"{r.kind} {r.src} -> {r.dst}"):]) if auto else r.what
        shown.add_row(mark, escape(what), r.src, escape(r.dst), escape(r.expected), got, f"{r.seconds:.2f} s")
    console().print(shown)
    failed = [r for r in results if not r.ok]
    for r in failed if verbose else []:
        console().print(f"[red]{escape(r.what)}[/red] ({r.id}): {escape(r.detail or r.got)}")
    summary = f"{len(results) - len(failed)}/{len(results)} checks passed"
    if seconds is not None:
        summary += f" in {seconds:.1f} s"
    if failed:
        console().print(f"[bold red]{summary}[/bold red]: {len(failed)} failed")
        return 1
    console().print(f"[green]{summary}[/green]")
    return 0


def results_json(results: Sequence[Result], lab: str = "", seconds: float | None = None) -> dict[str, object]:
    """`lab --json test`: {lab, passed, failed, seconds, results: [each check's fields]}."""
    from dataclasses import asdict
    failed = sum(1 for r in results if not r.ok)
    return {"lab": lab, "passed": len(results) - failed, "failed": failed,
            "seconds": None if seconds is None else round(seconds, 3),
            "results": [{**asdict(r), "seconds": round(r.seconds, 3)} for r in results]}


@click.command(name="test")
@click.argument("name", shell_complete=lab_names)
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@click.option("--workers", type=click.IntRange(1, 256), default=DEFAULT_WORKERS, show_default=True,
              help="Probe batches run at once (one per node and batch).")
@click.option("--checks", "checks_file", type=click.Path(dir_okay=False),
              help="Run the checks of this file (a list in the expect: language) instead of the lab's own.")
@click.option("-v", "--verbose", is_flag=True, help="Show each check as it finishes, and failure details.")
def test_cmd(name: str, junit_file: str | None, workers: int, checks_file: str | None, verbose: bool) -> None:
    """Check the expectations of a running lab (NAME, or the lab's folder):
    its expect: section, or its exercise's checks once dealt (lab deploy
    --exercise), or those of --checks FILE.

    Exits 1 when any check fails."""
    sys.exit(test_and_print(name, verbose=verbose, workers=workers, junit_file=junit_file, checks_file=checks_file))


def test_and_print(name: str, *, verbose: bool = False, workers: int = DEFAULT_WORKERS,
                   junit_file: str | None = None, checks_file: str | None = None) -> int:
    """Run a deployed lab's checks with progress, print the table (and write
    JUnit XML); return the exit code. `lab deploy --test` calls this too."""
    from ..lab import resolve_lab_name
    from ..operate import run_lab_tests
    start = time.perf_counter()
    with ProgressView(verbose) as view:
        results = run(run_lab_tests, name, progress=view, workers=workers, checks_file=checks_file)
    lab = run(resolve_lab_name, name)
    code = print_results(results, lab, verbose, time.perf_counter() - start)
    if junit_file:
        from ..verify.junit import write_junit
        write_junit(junit_file, lab, results)
        if not OUT.quiet:
            err_console().print(f"[dim]•[/dim] JUnit XML written to {junit_file}")
    return code


COMMANDS = [test_cmd]

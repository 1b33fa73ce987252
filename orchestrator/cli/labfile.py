"""`lab validate`, `lab plan`, `lab render`, `lab schema`: the lab file, no engine needed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .ui import OUT, console, count, emit_json, fail, problem_json, run, warn_all


@click.command()
@click.argument("path", type=click.Path())
def validate(path: str) -> None:
    """Check a lab file and report every problem in it (and, when an engine
    answers, that the images its nodes name are on it)."""
    from ..lab import plan_lab
    plan, warnings = run(plan_lab, path, check_images=True)
    if OUT.json:
        emit_json({"ok": True, "lab": plan.lab, "nodes": len(plan.nodes), "links": len(plan.links),
                   "warnings": [problem_json(w, plan.source or path) for w in warnings]})
        return
    warn_all(warnings)
    console().print(f"{path}: ok ({count(len(plan.nodes), 'node')}, {count(len(plan.links), 'link')})")


@click.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default=None,
              help="[default: yaml; json under lab --json]")
@click.option("--name", help="Plan the lab under another name.")
@click.option("--student", help="The lab as this student gets it: their variant (subnets, ports, names) and "
                                "the faults they are dealt (one of each one_of).")
def plan(path: str, fmt: str, name: str | None, student: str | None) -> None:
    """Print the resolved plan: interfaces, MACs, addresses, routes, labels."""
    from ..lab import plan_lab
    if student is not None:
        from ..classroom import roster
        run(roster, student)          # a student's name, or why not
    resolved, _ = run(plan_lab, path, name, student=student)
    if student is not None:
        from ..faults import dealt_for
        if resolved.exercise is None:
            fail(f"{path} has no exercise: section: --student shows which of its faults a student is dealt", code=2)
        resolved.exercise.faults = run(dealt_for, resolved, student)
    if fmt == "json" or fmt is None and OUT.json:
        from pydantic import TypeAdapter

        from ..plan import Plan
        out = sys.stdout.buffer  # bytes straight from the serializer: no 75 MB str copy
        out.write(TypeAdapter(Plan).dump_json(resolved, indent=2) + b"\n")
        out.flush()
        return
    import yaml
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter when PyYAML has it
    click.echo(yaml.dump(resolved.model_dump(), Dumper=dumper, sort_keys=False))


@click.command()
@click.argument("path", type=click.Path())
@click.option("-o", "--output", "out", type=click.Path(file_okay=False), required=True,
              help="Folder to write <node>/<path in node> files into.")
def render(path: str, out: str) -> None:
    """Write every node's rendered configuration files to a folder."""
    from ..lab import plan_lab
    from ..render.files import render_plan, write_rendered
    resolved, _ = run(plan_lab, path)
    files = render_plan(resolved)
    written = write_rendered(files, Path(out))
    if OUT.json:
        emit_json({"lab": resolved.lab, "folder": out, "nodes": len(files), "files": [str(p) for p in written]})
        return
    console().print(f"wrote {len(written)} files for {len(files)} nodes under {out}/")


@click.command()
def schema() -> None:
    """Print the JSON Schema of the lab file (also in schema/lab.schema.json)."""
    from ..model.schema import schema_text
    click.echo(schema_text(), nl=False)


COMMANDS = [validate, plan, render, schema]

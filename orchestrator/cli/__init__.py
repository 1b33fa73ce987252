"""The `lab` command: one module per group of commands, each of which only
parses arguments, calls the library and shows what comes back.

    ui         output modes, consoles, progress lines, errors -> exit codes
    labfile    validate, plan, render, schema (no engine needed)
    lifecycle  images build, deploy, destroy, status
    nodes      ping, exec, shell, routes, stack, neigh, leases, chat
    ops        graph, capture, link, impair, logs, repair
    test       test
    classroom  class check, up, status, grade, down (exercises for a class)

The command modules import the library only inside their commands, so
`lab --help` and `lab --version` load click and nothing heavy.
"""

from __future__ import annotations

import click

from . import classroom, labfile, lifecycle, nodes, ops, test
from .ui import OUT

#: the options every command takes, before or after its name: (names, attribute of OUT, help)
GLOBAL_OPTIONS = (
    (("-q", "--quiet"), "quiet", "No progress lines: results and errors only."),
    (("--json",), "json", "Results (and errors) as JSON on stdout (implies --quiet); a command with "
                          "no JSON output refuses it."),
    (("--debug",), "debug", "On an internal error (a bug), show the Python traceback."),
)


def _set_output(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """A global flag written after a command's name: it only ever turns a mode on."""
    if value:
        setattr(OUT, str(param.name), True)
        if param.name == "json":
            OUT.quiet = True


def _with_global_options(command: click.Command) -> click.Command:
    """Give `command` (and the commands of a group) -q/--json/--debug, so that
    `lab deploy -q x` works like `lab -q deploy x`. Click reads them like the
    command's own options: not after `--`, and not among the words that a
    command takes as they are (`lab exec NAME NODE -- CMD ...`). A command
    that has a flag of the same name keeps its own."""
    taken = {opt for p in command.params for opt in getattr(p, "opts", [])}
    for names, attr, text in GLOBAL_OPTIONS:
        if not taken & set(names):
            command.params.append(click.Option([*names, attr], is_flag=True, expose_value=False,
                                               callback=_set_output, help=text))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_global_options(sub)
    return command


class LabGroup(click.Group):
    """`lab`: its commands take the global options too (see _with_global_options)."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(_with_global_options(cmd), name)


@click.group(cls=LabGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="-q, --json and --debug may also follow the command: lab deploy LAB -q")
@click.version_option(package_name="labnet")
@click.option("-q", "--quiet", is_flag=True, help=GLOBAL_OPTIONS[0][2])
@click.option("--json", "as_json", is_flag=True, help=GLOBAL_OPTIONS[1][2])
@click.option("--debug", is_flag=True, help=GLOBAL_OPTIONS[2][2])
def main(quiet: bool, as_json: bool, debug: bool) -> None:
    """Real-network labs from a YAML file: Docker nodes, veth links, real routing."""
    OUT.quiet = quiet or as_json
    OUT.json = as_json
    OUT.debug = debug


for _module in (labfile, lifecycle, nodes, ops, test, classroom):
    for _command in _module.COMMANDS:
        main.add_command(_command)

"""The `lab` command: one module per group of commands, each of which only
parses arguments, calls the library and shows what comes back.

    ui         output modes, consoles, progress lines, errors -> exit codes
    labfile    validate, plan, render, schema (no engine needed)
    lifecycle  images build, deploy, destroy, status
    nodes      ping, exec, shell, routes, chat
    ops        graph, capture, link, impair, logs, repair
    test       test

The command modules import the library only inside their commands, so
`lab --help` and `lab --version` load click and nothing heavy.
"""

from __future__ import annotations

import sys

import click

from . import labfile, lifecycle, nodes, ops, test
from .ui import OUT


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="labnet")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines: results and errors only.")
@click.option("--json", "as_json", is_flag=True,
              help="Results of validate, deploy, destroy, status and ping as JSON on stdout (implies --quiet).")
def main(quiet: bool, as_json: bool) -> None:
    """Real-network labs from a YAML file: Docker nodes, veth links, real routing."""
    OUT.quiet = quiet or as_json
    OUT.json = as_json


for _module in (labfile, lifecycle, nodes, ops, test):
    for _command in _module.COMMANDS:
        main.add_command(_command)


def entry() -> None:
    """The console script: `lab`. No traceback reaches a user, whatever happens."""
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:  # a bug of ours: say so plainly, with what to report
        sys.stderr.write(f"error: internal error ({type(exc).__name__}: {exc}); this is a bug in labnet, "
                         "please report it with the command you ran\n")
        sys.exit(70)

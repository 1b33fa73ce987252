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

import click

from . import labfile, lifecycle, nodes, ops, test
from .ui import OUT


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="labnet")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines: results and errors only.")
@click.option("--json", "as_json", is_flag=True,
              help="Results of validate, deploy, destroy, status and ping as JSON on stdout (implies --quiet).")
@click.option("--debug", is_flag=True, help="On an internal error (a bug), show the Python traceback.")
def main(quiet: bool, as_json: bool, debug: bool) -> None:
    """Real-network labs from a YAML file: Docker nodes, veth links, real routing."""
    OUT.quiet = quiet or as_json
    OUT.json = as_json
    OUT.debug = debug


for _module in (labfile, lifecycle, nodes, ops, test):
    for _command in _module.COMMANDS:
        main.add_command(_command)

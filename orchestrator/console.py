"""The console script `lab`, guarded: whatever happens, no Python traceback
reaches a user unless they ask for it with `--debug` (or LABNET_DEBUG=1).

    a deliberate error          its message, exit code 1 (or the command's own)
    a bad argument (click)      click's usage message, exit code 2
    Ctrl-C, anywhere            "interrupted", exit code 130, after clean-up
    a bug of ours               one line "internal error ...", exit code 70

The command line itself is imported inside the guard, so even a Ctrl-C while
it starts is handled.
"""

from __future__ import annotations

import os
import sys

#: exit codes (sysexits.h's EX_SOFTWARE for a bug; 128 + SIGINT for Ctrl-C)
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


def _debug() -> bool:
    return "--debug" in sys.argv[1:] or os.environ.get("LABNET_DEBUG", "") not in ("", "0")


def entry() -> None:
    try:
        import click

        from .cli import main
        try:
            code = main.main(standalone_mode=False)
        except click.exceptions.Abort:   # click's name for Ctrl-C (or end of input) at a prompt
            raise KeyboardInterrupt from None
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:   # `lab plan x | head`: the reader left; nothing more to say
        try:
            sys.stdout = open(os.devnull, "w")  # so that the exit flush cannot fail again
        finally:
            sys.exit(1)
    except Exception as exc:
        if _debug():
            import traceback
            traceback.print_exc()
        sys.stderr.write(f"error: internal error ({type(exc).__name__}: {_short(exc)}); this is a bug in labnet. "
                         "Rerun with --debug to see the traceback, and please report it with the command "
                         "you ran\n")
        sys.exit(EXIT_INTERNAL)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."

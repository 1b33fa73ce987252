"""`python -m orchestrator.cli ...` is `lab ...`."""

from . import entry

entry()

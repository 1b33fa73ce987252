"""`python -m orchestrator.cli ...` is `lab ...`."""

from ..console import entry

entry()

#!/usr/bin/env bash
# The README's second command (and what CI runs): set up this machine if
# needed, check types (mypy) and style (ruff), then run the whole test suite
# (unit, daemon and integration tests, the latter on the real Docker engine).
# Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
echo "[test] mypy (config: pyproject.toml)"
"$ROOT/.venv/bin/mypy"
echo "[test] ruff check"
"$ROOT/.venv/bin/ruff" check .
exec "$ROOT/.venv/bin/python" -m pytest tests "$@"

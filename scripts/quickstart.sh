#!/usr/bin/env bash
# The README's first command: set up this machine (engine, venv, images),
# deploy labs/five-subnets, show its nodes and ping every PC from every PC.
# Safe to run again: the engine, the venv and the images are reused and the
# lab is redeployed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
exec "$ROOT/.venv/bin/lab" deploy "$ROOT/labs/five-subnets" --force --ping

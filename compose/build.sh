#!/usr/bin/env bash
# Build labnet/orchestrator: the orchestrator itself as an image, offline.
#
#   compose/build.sh [--tag labnet/orchestrator:latest]
#
# 1. Builds the node images if needed (`lab images build`, offline).
# 2. Fills a build context (compose/.build/, removed afterwards) with the project's sources and
#    wheels of exactly the Python packages the host's .venv runs. Wheels are
#    cached in compose/.wheels/; fill that folder yourself (same file names
#    pip would download) on a machine with no package index, or set
#    LABNET_WHEELS=/path/to/wheels.
# 3. docker build --network none FROM the project's base image.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
DOCKER=/usr/bin/docker
TAG=labnet/orchestrator:latest
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG="$2"; shift 2 ;;
    *) echo "usage: $0 [--tag IMAGE:TAG]" >&2; exit 2 ;;
  esac
done
say() { printf '[compose/build] %s\n' "$*"; }
die() { printf '[compose/build] error: %s\n' "$*" >&2; exit 1; }

[ -x "$VENV/bin/python" ] || die "no virtualenv in $VENV; run scripts/bootstrap.sh first"
[ -x "$DOCKER" ] || DOCKER="$(command -v docker)" || die "no docker client"

say "node images"
"$VENV/bin/lab" images build >/dev/null 2>&1 || "$VENV/bin/lab" images build
BASE="$("$VENV/bin/python" -c 'from orchestrator.backend.images import wanted_tags; print(wanted_tags().base)')"
"$DOCKER" image inspect "$BASE" >/dev/null 2>&1 || die "base image $BASE is missing"

CTX="$ROOT/compose/.build"
WHEELS="${LABNET_WHEELS:-$ROOT/compose/.wheels}"
rm -rf "$CTX"
mkdir -p "$CTX/src" "$WHEELS"
trap 'rm -rf "$CTX"' EXIT   # the context is a copy of the sources: never leave it behind

say "sources -> $CTX/src"
for item in orchestrator templates images labs pyproject.toml README.md; do
  cp -a "$ROOT/$item" "$CTX/src/"
done
find "$CTX/src" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +

# The runtime requirements of labnet, pinned to what the host's venv runs,
# plus pip (run from its wheel: the base image has none) and the build backend.
"$VENV/bin/python" - "$CTX/requirements.txt" <<'PY'
import sys
from importlib import metadata
from packaging.requirements import Requirement
seen, todo = set(), ["labnet"]
while todo:
    for text in metadata.distribution(todo.pop()).requires or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an extra, or another platform's dependency
        name = req.name.lower().replace("_", "-")
        if name not in seen:
            seen.add(name)
            todo.append(name)
pins = [f"{name}=={metadata.version(name)}" for name in sorted(seen)]
pins += ["pip", "setuptools>=68", "wheel"]
open(sys.argv[1], "w").write("\n".join(pins) + "\n")
PY
arch="$(uname -m)"
py="$("$DOCKER" run --rm --network none "$BASE" python3 -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
if "$VENV/bin/pip" download -q --disable-pip-version-check --no-index --find-links "$WHEELS" \
     --no-deps --only-binary=:all: --python-version "$py" --implementation cp --abi "cp$py" \
     --platform "manylinux_2_17_$arch" --platform "manylinux2014_$arch" --platform any \
     -d "$WHEELS" -r "$CTX/requirements.txt" >/dev/null 2>&1; then
  say "wheels: all found in $WHEELS (no index contacted)"
else
  say "wheels: downloading the missing ones into $WHEELS (python $py, $arch)"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version "$py" --implementation cp --abi "cp$py" \
    --platform "manylinux_2_17_$arch" --platform "manylinux2014_$arch" --platform any \
    -d "$WHEELS" -r "$CTX/requirements.txt" \
    || { cp "$CTX/requirements.txt" "$WHEELS/requirements.txt"
         die "could not get the wheels; put them into $WHEELS by hand (see $WHEELS/requirements.txt)"; }
fi
cp -a "$WHEELS" "$CTX/wheels"

# An image built from this very context is reused (the hash covers sources,
# wheels, the Dockerfile and the base tag).
ctxhash="$( (cd "$CTX" && find . -type f -print0 | sort -z | xargs -0 sha256sum; \
            sha256sum < "$ROOT/compose/Dockerfile"; echo "$BASE") | sha256sum | cut -c1-16)"
have="$("$DOCKER" image inspect -f '{{index .Config.Labels "labnet.context"}}' "$TAG" 2>/dev/null || true)"
if [ "$have" = "$ctxhash" ]; then
  say "$TAG is up to date ($ctxhash)"
  exit 0
fi
say "docker build --network none -t $TAG (FROM $BASE)"
"$DOCKER" build -q --network none --build-arg "BASE=$BASE" --label labnet.role=orchestrator \
  --label "labnet.context=$ctxhash" -t "$TAG" -f "$ROOT/compose/Dockerfile" "$CTX" >/dev/null
say "built $TAG ($ctxhash)"

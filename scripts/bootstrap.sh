#!/usr/bin/env bash
# Prepare this machine for labnet. Idempotent: a second run reuses everything.
#
#   1. Debian packages: docker.io (the engine), debootstrap (base image),
#      iproute2, graphviz (lab graph), docker-compose (compose/), python3-venv,
#      and what the netns backend's nodes use from this machine (nftables,
#      iputils-ping, tcpdump, conntrack, curl, procps); installed only if missing.
#   2. A Docker engine: reused if one answers; otherwise dockerd is started
#      with no default bridge and no host firewall rules.
#   3. A virtualenv in .venv with labnet and its test tools (editable).
#   4. The node images, built offline (only if missing or their recipe changed).
#
# Usage: scripts/bootstrap.sh [--no-images]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
DOCKER=/usr/bin/docker
DOCKERD_CONFIG=/etc/labnet/dockerd.json
DOCKERD_LOG=/var/log/labnet-dockerd.log
BUILD_IMAGES=1
for arg in "$@"; do
  case "$arg" in
    --no-images) BUILD_IMAGES=0 ;;
    *) echo "usage: $0 [--no-images]" >&2; exit 2 ;;
  esac
done

say() { if [ -t 1 ]; then printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; else printf '[bootstrap] %s\n' "$*"; fi; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: labs need network namespaces and the Docker engine"

# --- 1. packages ---------------------------------------------------------------
engine_config='{ "bridge": "none", "iptables": false, "ip6tables": false }'
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v ip >/dev/null || missing+=(iproute2)
command -v dot >/dev/null || missing+=(graphviz)
command -v docker-compose >/dev/null || missing+=(docker-compose)
# what nodes of the netns backend use from this machine (orchestrator/backend/netns.py)
command -v nft >/dev/null || missing+=(nftables)
command -v ping >/dev/null || missing+=(iputils-ping)
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v conntrack >/dev/null || missing+=(conntrack)
command -v curl >/dev/null || missing+=(curl)
command -v pgrep >/dev/null || missing+=(procps)
command -v nsenter >/dev/null || missing+=(util-linux)
# the real clients the DNS and DHCP servers' tests use (tests/daemons/dns, tests/daemons/dhcp)
command -v dig >/dev/null || missing+=(bind9-dnsutils)
command -v dhclient >/dev/null || missing+=(isc-dhcp-client)
command -v udhcpc >/dev/null || missing+=(udhcpc)
# the browser the class report is looked at in (tests/integration/test_class.py)
command -v chromium >/dev/null || missing+=(chromium)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  # If installing docker.io starts an engine (systemd machines), it must
  # already create no bridge and touch no firewall.
  if [ ! -e /etc/docker/daemon.json ]; then
    mkdir -p /etc/docker
    echo "$engine_config" > /etc/docker/daemon.json
  fi
  say "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "packages: docker.io, debootstrap, iproute2, graphviz, docker-compose, python3-venv, and the netns backend's tools, chromium present"
fi

# --- 2. the engine -------------------------------------------------------------
if "$DOCKER" info >/dev/null 2>&1; then
  say "engine: a Docker engine answers, reusing it"
else
  mkdir -p "$(dirname "$DOCKERD_CONFIG")"
  echo "$engine_config" > "$DOCKERD_CONFIG"
  say "engine: starting dockerd (no bridge, no iptables; log in $DOCKERD_LOG)"
  setsid nohup dockerd --config-file "$DOCKERD_CONFIG" >>"$DOCKERD_LOG" 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    "$DOCKER" info >/dev/null 2>&1 && break
    sleep 0.5
  done
  "$DOCKER" info >/dev/null 2>&1 || { tail -20 "$DOCKERD_LOG" >&2; die "dockerd did not come up in 60 s"; }
  say "engine: up ($("$DOCKER" version --format '{{.Server.Version}}, API {{.Server.APIVersion}}'))"
fi

# --- 3. the virtualenv ---------------------------------------------------------
stamp="$VENV/.labnet-installed"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ]; then
  say "venv: creating $VENV"
  python3 -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "venv: installing labnet and its test tools"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[test,bench]"
  echo "$want" > "$stamp"
else
  say "venv: up to date"
fi

# --- 4. images -----------------------------------------------------------------
if [ "$BUILD_IMAGES" = 1 ]; then
  "$VENV/bin/lab" images build
fi
say "ready: activate with 'source .venv/bin/activate' or call .venv/bin/lab"

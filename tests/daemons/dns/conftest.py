"""Shared setup for the DNS server tests: import path, markers, and the
dns_server fixture (helpers in dnshelpers.py)."""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.dont_write_bytecode = True  # keep images/node free of __pycache__ (it is the image's build context)
NODE = pathlib.Path(__file__).resolve().parents[3] / "images" / "node"
HERE = pathlib.Path(__file__).resolve().parent
for path in (str(NODE), str(HERE), str(HERE.parent)):
    if path not in sys.path:
        sys.path.insert(0, path)

from dnshelpers import DnsProc  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "netns: needs root and `ip netns`; runs the DNS servers in throw-away network namespaces")


@pytest.fixture
def dns_server(tmp_path):
    """dns_server(config) -> DnsProc; all stopped at teardown."""
    started: list[DnsProc] = []

    def start(config: dict, prefix: list[str] | None = None) -> DnsProc:
        proc = DnsProc(config, tmp_path, prefix)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()

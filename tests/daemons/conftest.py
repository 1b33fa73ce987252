"""Fixtures for the in-node programs: services started as real subprocesses
on loopback, port 0, always stopped at teardown.  Puts images/node on
sys.path so the tests import labnode directly."""

from __future__ import annotations

import os
import sys

import pytest

sys.dont_write_bytecode = True  # keep images/node free of __pycache__ (it is the image's build context)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import NODE_DIR, Service  # noqa: E402

if NODE_DIR not in sys.path:
    sys.path.insert(0, NODE_DIR)


def _services():
    """A start(module, *args) -> Service function; every service it started
    is stopped when the generator resumes (at the fixture's teardown)."""
    started: list[Service] = []

    def start(module: str, *args: str) -> Service:
        service = Service(module, *args)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def start_service():
    """start_service(module, *args) -> Service; all stopped at teardown."""
    yield from _services()


@pytest.fixture(scope="module")
def module_service():
    """Like start_service, but the services live for the whole test module."""
    yield from _services()

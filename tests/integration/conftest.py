"""Integration tests: a real Docker engine, real labs. They need root.

Without an engine these tests FAIL (they are never skipped): CI must run them.
"""

import json
import os
import subprocess

import pytest

from orchestrator import lab as api
from orchestrator.backend.dockerengine import DockerBackend
from orchestrator.errors import EngineUnavailable

# testinfra's docker:// backend calls `docker` from PATH; prefer Debian's
# client, which matches the engine.
os.environ["PATH"] = "/usr/bin:" + os.environ.get("PATH", "")


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def backend():
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (network namespaces); run scripts/test.sh as root")
    b = DockerBackend()
    try:
        b.check()
    except EngineUnavailable as exc:
        pytest.fail(f"{exc}\nintegration tests need a Docker engine: run scripts/bootstrap.sh")
    api.build_images(b)
    return b


def host_network_snapshot():
    """The host's own interfaces and routes, to prove a lab leaves them alone."""
    def j(*args):
        out = subprocess.run(["ip", "-j", *args], check=True, capture_output=True, text=True).stdout
        return json.loads(out)
    links = sorted((ln["ifname"], ln.get("operstate")) for ln in j("link"))
    routes = sorted(json.dumps(r, sort_keys=True) for r in j("route", "show", "table", "all"))
    return links, routes


@pytest.fixture(scope="module")
def five_subnets(backend):
    """labs/five-subnets deployed under a test name, destroyed afterwards."""
    from tests.conftest import LABS
    name = "t-five"
    api.destroy(name, backend=backend)
    before = host_network_snapshot()
    result = api.deploy(LABS / "five-subnets", name=name, backend=backend)
    yield result.plan, before
    api.destroy(name, backend=backend)


def deployed_lab(backend, folder: str, name: str):
    """For a module-scoped fixture: labs/FOLDER deployed as NAME (after removing
    what a killed run left), its plan yielded, destroyed afterwards.

        @pytest.fixture(scope="module")
        def deployed(backend):
            yield from deployed_lab(backend, "arp", "t-arp")
    """
    from tests.conftest import LABS
    api.destroy(name, backend=backend)
    yield api.deploy(LABS / folder, name=name, backend=backend).plan
    api.destroy(name, backend=backend)

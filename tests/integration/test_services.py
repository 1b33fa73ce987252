"""labs/services on the real engine: the supervisor runs the services, every
probe works across two routers, curl and wget too, and a killed service
comes back."""

import json
import time

import pytest

from orchestrator import lab as api
from orchestrator import operate
from tests.conftest import LABS

NAME = "t-services"


@pytest.fixture(scope="module")
def services(backend):
    api.destroy(NAME, backend=backend)
    plan = api.deploy(LABS / "services", name=NAME, backend=backend).plan
    yield plan
    api.destroy(NAME, backend=backend)


def probe(backend, node, *args):
    res = operate.exec_in(NAME, node, ["lab-probe", *args], backend=backend)
    return res.exit_code, json.loads(res.stdout)


@pytest.mark.parametrize("args,check", [
    (("ping", "srv", "--count", "2"), lambda r: r["received"] == 2),
    (("traceroute", "srv"), lambda r: r["reached"] and len(r["hops"]) == 3),
    (("tcp", "srv", "80,5000,6000,6001"),
     lambda r: r["ports"] == {"80": "open", "5000": "open", "6000": "open", "6001": "closed"}),
    (("http", "http://srv/hello.txt", "--contains", "Hello from srv"), lambda r: r["status"] == 200),
    (("chat", "srv", "--port", "5000"), lambda r: r["echoed"]),
    (("udp", "srv", "7"), lambda r: r["received"] == 1),
], ids=["ping", "traceroute", "tcp", "http", "chat", "udp"])
def test_every_probe_works_across_the_routers(services, backend, args, check):
    code, result = probe(backend, "pc1", *args)
    assert code == 0 and result["ok"], result
    assert check(result), result


def test_curl_and_wget_fetch_from_the_http_service(services, backend):
    curl = operate.exec_in(NAME, "pc2", ["curl", "-sf", "http://srv/"], backend=backend)
    assert curl.ok and "Hello from srv" in curl.stdout
    wget = operate.exec_in(NAME, "pc2", ["wget", "-qO-", "http://srv/docs/"], backend=backend)
    assert wget.ok and "index.html" in wget.stdout
    missing = operate.exec_in(NAME, "pc2", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                        "http://srv/nope"], backend=backend)
    assert missing.stdout == "404"


def test_access_log_names_the_client(services, backend):
    operate.exec_in(NAME, "pc2", ["curl", "-sf", "http://srv/style.css"], backend=backend)
    pc2 = services.nodes["pc2"].addresses()[0].split("/")[0]
    deadline = time.monotonic() + 3   # the access log is written in batches, at most 0.1 s late
    while True:
        log = operate.exec_in(NAME, "srv", ["cat", "/var/log/labnet/http.log"], backend=backend).stdout
        if any(pc2 in line and "/style.css" in line for line in log.splitlines()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert any(pc2 in line and "/style.css" in line for line in log.splitlines()), log


def test_supervisor_restarts_a_killed_service(services, backend):
    status = json.loads(operate.exec_in(NAME, "srv", ["cat", "/var/log/labnet/status.json"],
                                    backend=backend).stdout)
    pid = status["services"]["chat"]["pid"]
    operate.exec_in(NAME, "srv", ["kill", "-9", str(pid)], backend=backend)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        code, result = probe(backend, "pc1", "chat", "srv", "--port", "5000")
        if code == 0:
            break
        time.sleep(0.2)
    assert code == 0, result
    status = json.loads(operate.exec_in(NAME, "srv", ["cat", "/var/log/labnet/status.json"],
                                    backend=backend).stdout)
    assert status["services"]["chat"]["pid"] != pid
    assert status["services"]["chat"]["restarts"] >= 1

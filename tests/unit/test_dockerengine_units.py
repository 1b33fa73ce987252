"""The Docker backend's lookups with the engine's answers stubbed: containers
vanishing between the list and the inspection, and the record kept apart."""

from orchestrator.backend.dockerengine import DockerBackend
from orchestrator.labels import LABEL_LAB, LABEL_NODE, LABEL_PROJECT, LABEL_ROLE


def listed(cid: str, lab: str, node: str | None, state: str = "running") -> dict:
    labels = {LABEL_PROJECT: "labnet", LABEL_LAB: lab}
    if node is None:
        labels[LABEL_ROLE] = "record"
    else:
        labels[LABEL_NODE] = node
    return {"Id": cid, "Names": [f"/labnet-{lab}-{node or '_record'}"], "Labels": labels, "State": state}


class Engine:
    """The engine's list and inspect answers; `vanish` are gone by the time they are inspected."""

    def __init__(self, containers: list[dict], vanish: set[str] = frozenset()):
        self.all, self.vanish = containers, vanish
        self.asked: list[list[str]] = []

    def containers(self, labels: list[str]) -> list[dict]:
        self.asked.append(labels)
        wanted = [tuple(x.split("=", 1)) if "=" in x else (x, None) for x in labels]
        return [c for c in self.all if all(k in c["Labels"] and (v is None or c["Labels"][k] == v)
                                           for k, v in wanted)]

    def inspect(self, cid: str) -> dict | None:
        if cid in self.vanish:
            return None
        c = next(c for c in self.all if c["Id"] == cid)
        return {"Name": c["Names"][0], "State": {"Status": c["State"], "Pid": 100},
                "Config": {"Image": "labnet/node:x"}}


def backend(engine: Engine) -> DockerBackend:
    b = DockerBackend()
    b._lookups = engine  # type: ignore[assignment]
    return b


def test_a_container_that_vanishes_while_listing_is_left_out():
    engine = Engine([listed("1", "a", "pc1"), listed("2", "a", "pc2"), listed("3", "a", "r1")], vanish={"2"})
    assert [s.node for s in backend(engine).nodes("a")] == ["pc1", "r1"]


def test_the_record_is_no_node_but_makes_a_lab_listed():
    engine = Engine([listed("1", "a", "pc1"), listed("r", "a", None), listed("s", "half", None)])
    b = backend(engine)
    assert [s.node for s in b.nodes("a")] == ["pc1"]
    assert [(s.name, s.nodes) for s in b.list_labs()] == [("a", 1), ("half", 0)]
    assert ["labnet.project=labnet", "labnet.lab=a", "labnet.node"] in engine.asked


class DeadEngine(Engine):
    def containers(self, labels: list[str]) -> list[dict]:
        import requests
        raise requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104, 'reset'))")


def test_an_engine_that_stops_answering_is_said_so():
    import pytest

    from orchestrator.errors import EngineUnavailable
    with pytest.raises(EngineUnavailable, match=r"^the Docker engine stopped answering \(ConnectionError: "
                                                r"\('Connection aborted\.'.*; check that dockerd runs"):
        backend(DeadEngine([])).nodes("ux")


def test_other_errors_pass_through_the_guard():
    import pytest

    class Broken(Engine):
        def containers(self, labels):
            raise KeyError("a bug")
    with pytest.raises(KeyError):
        backend(Broken([])).nodes("ux")

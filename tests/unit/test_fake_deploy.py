"""Deploy, destroy and destroy --all on the in-memory backend: what a user sees
when a stage fails, when Ctrl-C is pressed, when the lab already runs."""

import inspect

import pytest

from orchestrator import contract
from orchestrator import lab as api
from orchestrator.backend.protocol import Backend
from orchestrator.errors import BackendError, DeployError, EngineUnavailable
from orchestrator.model.specs import Impairment
from tests.conftest import LABS
from tests.unit.fakebackend import FakeBackend

# three nodes, two links, one of them impaired (so every stage has work to do)
TINY = """
name: tiny
nodes:
  pc1: {kind: host}
  r1: {kind: router}
  pc2: {kind: host}
links:
  - {a: pc1, b: r1, prefix: 10.0.1.0/24, impair: {delay: 20ms}}
  - {a: r1, b: pc2, prefix: 10.0.2.0/24}
"""
STAGES = ["create", "wire", "configure", "impair"]


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "lab.yml").write_text(TINY)
    return tmp_path


def test_the_fake_has_every_method_of_the_protocol_with_its_signature():
    methods = [m for m in vars(Backend) if not m.startswith("_") and callable(getattr(Backend, m))]
    assert len(methods) == 31
    for m in methods:
        want, got = inspect.signature(getattr(Backend, m)), inspect.signature(getattr(FakeBackend, m))
        assert list(got.parameters.values()) == list(want.parameters.values()), m


def test_deploy_creates_wires_configures_and_impairs(tiny):
    fake, events = FakeBackend(), []
    result = api.deploy(tiny, backend=fake, progress=events.append)
    assert set(result.timings) == {"prepare", "images", "record", "create", "wire", "configure", "impair", "total"}
    assert [(e.done, e.total) for e in events if e.stage == "create"] == [(1, 3), (2, 3), (3, 3)]
    assert [e.message for e in events if e.stage == "wire"] == ["pc1:eth0 <-> r1:eth0", "r1:eth1 <-> pc2:eth0"]
    assert [s.node for s in fake.nodes("tiny")] == ["pc1", "pc2", "r1"]
    assert [i.name for i in fake.interfaces("tiny", "r1")] == ["eth0", "eth1"]
    assert contract.SETUP_SCRIPT in fake.node("tiny", "r1").files
    assert fake.impairments("tiny", "pc1") == {"eth0": Impairment(delay_ms=20)}
    assert fake.impairments("tiny", "r1") == {"eth0": Impairment(delay_ms=20)}


@pytest.mark.parametrize("stage", STAGES)
def test_a_failed_stage_removes_everything_created(tiny, stage):
    fake, events = FakeBackend(), []
    fake.fail(stage, BackendError("the kernel said no"), after=1)
    with pytest.raises(DeployError) as info:
        api.deploy(tiny, backend=fake, progress=events.append)
    assert str(info.value) == ("deploy of 'tiny' failed: the kernel said no\n"
                               "everything it had created was removed")
    assert fake.labs == {} and fake.nodes("tiny") == []
    assert "deploy of tiny failed; removing what it created" in [e.message for e in events]
    removed = [e.message for e in events if e.message.startswith("removed ")]
    assert len(removed) == (1 if stage == "create" else 3)  # what existed when it failed


def test_a_failed_clean_up_says_so_and_what_to_run(tiny):
    fake = FakeBackend()
    fake.fail("wire", BackendError("no veth"))
    fake.fail("destroy", BackendError("engine hung"), times=1)
    with pytest.raises(DeployError) as info:
        api.deploy(tiny, backend=fake)
    assert str(info.value) == ("deploy of 'tiny' failed (no veth) and the clean-up failed too "
                               "(engine hung); run 'lab destroy tiny'")
    assert len(fake.nodes("tiny")) == 3  # left behind ...
    assert api.destroy("tiny", backend=fake) == 3  # ... until the user runs what it said
    assert fake.labs == {}


@pytest.mark.parametrize("stage", STAGES)
def test_ctrl_c_in_a_backend_step_removes_everything_and_is_raised_again(tiny, stage):
    fake = FakeBackend()
    fake.fail(stage, KeyboardInterrupt(), after=1)
    with pytest.raises(KeyboardInterrupt):
        api.deploy(tiny, backend=fake)
    assert fake.labs == {}
    assert fake.called("destroy") == ["tiny"]


@pytest.mark.parametrize("stage", STAGES)
def test_ctrl_c_in_the_progress_callback_removes_everything(tiny, stage):
    fake = FakeBackend()

    def progress(event):
        if event.stage == stage and event.done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.deploy(tiny, backend=fake, progress=progress)
    assert fake.labs == {}


def test_an_unexpected_error_is_not_wrapped_but_still_cleaned_up(tiny):
    fake = FakeBackend(fail_at={"configure": RuntimeError("a bug")})
    with pytest.raises(RuntimeError, match="a bug"):
        api.deploy(tiny, backend=fake)
    assert fake.labs == {}


def test_no_engine_means_nothing_is_created(tiny):
    fake = FakeBackend(engine_up=False)
    with pytest.raises(EngineUnavailable):
        api.deploy(tiny, backend=fake)
    assert fake.called("create_nodes") == [] and fake.called("destroy") == []


def test_a_deployed_lab_is_reconciled_unless_forced(tiny):
    fake = FakeBackend()
    api.deploy(tiny, backend=fake)
    pids = {s.node: s.pid for s in fake.nodes("tiny")}
    again = api.deploy(tiny, backend=fake)
    assert again.reconciled is not None and not again.reconciled  # the same file: nothing to change
    assert again.reconciled.summary() == "no change"
    assert {s.node: s.pid for s in fake.nodes("tiny")} == pids  # untouched

    events = []
    api.deploy(tiny, backend=fake, force=True, progress=events.append)
    assert events[0].message == "removing the running copy of tiny"
    assert [m for m, _ in fake.calls if m in ("destroy", "create_nodes")][-2:] == ["destroy", "create_nodes"]
    assert all(s.pid != pids[s.node] for s in fake.nodes("tiny"))
    assert len(fake.interfaces("tiny", "r1")) == 2


def test_destroy_by_folder_and_again():
    fake = FakeBackend()
    api.deploy(LABS / "two-pcs", backend=fake)
    assert api.destroy(str(LABS / "two-pcs"), backend=fake) == 2
    assert api.destroy("two-pcs", backend=fake) == 0  # safe to repeat


def test_destroy_all_removes_exactly_our_labs(tiny):
    fake = FakeBackend()
    api.deploy(tiny, backend=fake)
    api.deploy(LABS / "two-pcs", backend=fake)
    fake.add_container("postgres", {"com.example.app": "db"})
    fake.add_container("other-tool-x", {"labnet.lab": "x"})  # a lab label, but not our project's
    events = []
    assert api.destroy_all(fake, events.append) == {"tiny": 3, "two-pcs": 2}
    assert fake.destroyed == ["tiny", "two-pcs"]
    assert sorted(fake.containers) == ["other-tool-x", "postgres"]
    assert [e.message for e in events if e.message.startswith("removing")] == ["removing lab tiny",
                                                                              "removing lab two-pcs"]
    assert api.destroy_all(fake) == {}

"""The per-node thread pool's errors, and the per-lab lock across processes."""

import multiprocessing
import threading
import time

import pytest

from orchestrator import locks
from orchestrator.backend.parallel import parallel
from orchestrator.errors import BackendError, LabStateError
from orchestrator.locks import LabBusy, lab_lock


def test_a_failing_item_is_named_with_its_real_cause_after_the_others_finished():
    finished, started = [], []

    def work(name: str) -> None:
        started.append(name)
        if name == "n3":
            raise OSError(17, "File exists")
        time.sleep(0.05)
        finished.append(name)

    with pytest.raises(BackendError, match=r"^n3: FileExistsError: \[Errno 17\] File exists$"):
        parallel([f"n{i}" for i in range(1, 7)], work, lambda _: None)
    assert sorted(finished) == sorted(n for n in started if n != "n3")  # nothing still running


def test_a_lab_error_is_raised_as_it_is():
    def work(name: str) -> None:
        raise LabStateError(f"node {name} is exited")

    with pytest.raises(LabStateError, match="^node a is exited$"):
        parallel(["a"], work, lambda _: None)


def test_every_item_done_is_reported():
    done = []
    parallel(range(20), lambda i: None, done.append)
    assert sorted(done) == list(range(20))


@pytest.fixture
def lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LABNET_LOCK_DIR", str(tmp_path))
    return tmp_path


def _hold(lab: str, ready, release) -> None:  # in another process
    with lab_lock(lab, "deploy"):
        ready.set()
        release.wait(10)


def _holder(lab: str):
    """Another process holding `lab`'s lock, and the event that lets it go."""
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(lab, ready, release))
    holder.start()
    assert ready.wait(10)
    return holder, release


def test_a_second_process_is_told_who_is_busy(lock_dir):
    holder, release = _holder("ux")
    try:
        with pytest.raises(LabBusy, match=rf"^lab ux is busy: deploy by pid {holder.pid} since \d\d:\d\d:\d\d; "
                                          "wait for it to finish$"):
            with lab_lock("ux", "destroy"):
                pass
        with lab_lock("other", "deploy"):  # another lab is not held back
            pass
    finally:
        release.set()
        holder.join(10)
    with lab_lock("ux", "destroy"):  # free once the holder is done
        pass


def test_a_waiting_command_goes_on_when_the_holder_finishes(lock_dir):
    holder, release = _holder("ux")
    events = []
    threading.Timer(0.3, release.set).start()
    t = time.monotonic()
    with lab_lock("ux", "destroy", wait_s=10, progress=events.append):
        waited = time.monotonic() - t
    holder.join(10)
    assert 0.2 < waited < 5
    assert events[0].message.startswith(f"lab ux is busy (deploy by pid {holder.pid} since ")


def test_a_killed_holder_frees_the_lock_at_once(lock_dir):
    holder, release = _holder("ux")
    holder.kill()
    holder.join(10)
    with lab_lock("ux", "deploy"):
        pass


def test_the_same_process_may_take_its_lock_again(lock_dir):
    with lab_lock("ux", "deploy"):
        with lab_lock("ux", "destroy"):
            pass
        assert locks._held["ux"] == 1
    assert "ux" not in locks._held


def _hold_slow_to_say(path: str, ready, release) -> None:  # in another process
    import fcntl
    import json
    import os
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    ready.set()
    time.sleep(0.3)  # the lock is held but says nothing yet of who holds it
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": "deploy", "since": time.time()}).encode(), 0)
    release.wait(10)


def test_a_holder_that_has_not_yet_written_its_name_is_still_named(lock_dir):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_slow_to_say, args=(str(lock_dir / "ux.lock"), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(LabBusy, match=rf"^lab ux is busy: deploy by pid {holder.pid} since "):
            with lab_lock("ux", "destroy"):
                pass
    finally:
        release.set()
        holder.join(10)

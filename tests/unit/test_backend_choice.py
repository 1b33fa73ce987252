"""Which backend a command uses: --backend / the file's backend:, else the one
a deployed lab runs on (a netns lab has a state folder), else Docker."""

from __future__ import annotations

import pytest

from orchestrator import lab as api
from orchestrator.errors import UsageError
from tests.conftest import LABS


class Named:
    def __init__(self, name: str, labs: dict[str, list[str]] | None = None):
        self.name, self.labs = name, labs or {}

    def nodes(self, lab: str) -> list[str]:
        return self.labs.get(lab, [])


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "NETNS_STATE_ROOT", tmp_path)
    made: dict[str, Named] = {}

    def make(name=None):
        if name not in (None, "docker", "netns"):
            raise UsageError(f"unknown backend '{name}'")
        key = name or "docker"
        return made.setdefault(key, Named(key))

    monkeypatch.setattr(api, "make_backend", make)
    return tmp_path, made


def test_an_unknown_backend_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown backend 'lxc' \\(one of: docker, netns\\)"):
        api.make_backend("lxc")


def test_a_lab_with_a_netns_state_folder_is_found_there(state):
    root, _ = state
    assert api.backend_of("five").name == "docker"
    (root / "five").mkdir()
    assert api.backend_of("five").name == "netns"
    assert api.locate("five")[1].name == "netns"


def test_deploy_takes_the_named_backend_else_where_the_lab_runs(state):
    root, _ = state
    five = LABS / "five-subnets"
    assert api._chosen_backend(five, None, None).name == "docker"
    assert api._chosen_backend(five, None, "netns").name == "netns"
    (root / "five-subnets").mkdir()
    assert api._chosen_backend(five, None, None).name == "netns"


def test_a_lab_running_on_one_backend_is_not_deployed_again_on_the_other(state):
    root, made = state
    made["docker"] = Named("docker", {"five-subnets": ["pc1"]})
    with pytest.raises(UsageError, match="runs on the docker backend; destroy it first"):
        api._chosen_backend(LABS / "five-subnets", None, "netns")
    assert api._chosen_backend(LABS / "five-subnets", "copy", "netns").name == "netns"


def test_an_unknown_backend_name_is_refused_before_anything(state):
    with pytest.raises(UsageError, match="unknown backend 'podman'"):
        api._chosen_backend(LABS / "five-subnets", None, "podman")


def test_the_files_backend_is_taken_unless_the_option_says_otherwise(state, tmp_path):
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "lab.yml").write_text("name: big\nbackend: netns\nnodes: {pc1: {kind: host}}\n")
    assert api._chosen_backend(folder, None, None).name == "netns"
    assert api._chosen_backend(folder, None, "docker").name == "docker"

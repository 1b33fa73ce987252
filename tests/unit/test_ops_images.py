"""`lab images list` and `lab images prune` against the engine's answers
stubbed: which images are ours (by label), which labs use them, and that
pruning never removes an image in use, the current one, or one another
name points at too."""

import docker.errors
import pytest

from orchestrator.backend import images
from orchestrator.backend.images import ImageSet

CURRENT = ImageSet(base="labnet/base:bbbbbbbbbbbb", node="labnet/node:nnnnnnnnnnnn")


def ours(iid, role, *tags, created=1_764_600_000, size=175_000_000):
    return {"Id": f"sha256:{iid * 64}"[:71], "RepoTags": list(tags) or None, "Created": created, "Size": size,
            "Labels": {"labnet.project": "labnet", "labnet.role": role}}


class Api:
    def __init__(self, listed, containers):
        self.listed, self.all = listed, containers
        self.tagged: list[tuple[str, str, str]] = []

    def images(self, filters):
        wanted = [tuple(x.split("=", 1)) for x in filters["label"]]
        return [i for i in self.listed if all((i["Labels"] or {}).get(k) == v for k, v in wanted)]

    def containers(self, all):
        return self.all

    def tag(self, image, repo, tag):
        self.tagged.append((image, repo, tag))


class Images:
    def __init__(self, api, refuse=()):
        self.api, self.refuse, self.removed = api, set(refuse), []

    def remove(self, iid, force):
        if iid in self.refuse:
            raise docker.errors.APIError("conflict: image has dependent child images")
        self.removed.append(iid)
        self.api.listed = [i for i in self.api.listed if i["Id"] != iid]

    def get(self, tag):
        if not any(tag in (i["RepoTags"] or []) for i in self.api.listed):
            raise docker.errors.ImageNotFound(tag)


class Client:
    def __init__(self, listed, containers=(), refuse=()):
        self.api = Api(list(listed), list(containers))
        self.images = Images(self.api, refuse)


def container(image_id, lab=None, project="labnet"):
    labels = {"labnet.project": project, **({"labnet.lab": lab} if lab else {})}
    return {"ImageID": image_id, "Labels": labels}


@pytest.fixture
def current(monkeypatch):
    monkeypatch.setattr(images, "wanted_tags", lambda: CURRENT)


def test_list_names_the_labs_using_each_image_and_what_is_current(current):
    node, old, base = (ours("a", "node", CURRENT.node, "labnet/node:latest", created=1_764_700_000),
                       ours("b", "node", "labnet/node:oooooooooooo"), ours("c", "base", CURRENT.base))
    client = Client([node, old, base], [container(node["Id"], "five"), container(node["Id"], "ux"),
                                        container(node["Id"], project="someone")])
    got = images.list_images(client)
    assert [(i.role, i.recipe, i.current) for i in got] == [("node", "nnnnnnnnnnnn", True),
                                                            ("node", "oooooooooooo", False),
                                                            ("base", "bbbbbbbbbbbb", True)]
    assert (got[0].labs, got[0].others, got[0].id) == (["five", "ux"], 1, "a" * 12)
    assert got[0].created == "2025-12-02T18:26:40Z" and got[1].labs == []


def test_prune_removes_only_stale_unused_images_of_ours(current):
    keep_current = ours("a", "node", CURRENT.node)
    stale = ours("b", "node", "labnet/node:oooooooooooo")
    in_use = ours("c", "node", "labnet/node:uuuuuuuuuuuu")
    shared = ours("d", "node", "labnet/node:ssssssssssss", "mine:v1")   # someone named it too
    stale_base = ours("e", "base", "labnet/base:eeeeeeeeeeee")
    child_of = ours("f", "base", "labnet/base:ffffffffffff")            # the engine refuses: a child needs it
    client = Client([keep_current, stale, in_use, shared, stale_base, child_of],
                    [container(in_use["Id"], "old-lab")], refuse=[child_of["Id"]])
    removed = images.prune_images(client)
    assert removed == ["labnet/node:oooooooooooo", "labnet/base:eeeeeeeeeeee"]
    assert client.images.removed == [stale["Id"], stale_base["Id"]]
    assert client.api.tagged == [(CURRENT.node, "labnet/node", "latest")]


def test_prune_asks_for_our_labels_only(current):
    theirs = {"Id": "sha256:" + "9" * 64, "RepoTags": ["labnet/node:oooooooooooo"], "Created": 0, "Size": 1,
              "Labels": {"maintainer": "someone"}}     # our name, not our labels: not ours
    client = Client([theirs])
    assert images.prune_images(client) == [] and client.images.removed == []
    assert images.list_images(client) == []

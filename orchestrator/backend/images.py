"""Node images, built locally and offline; no registry is ever needed.

* base: a minimal Debian bootstrapped with debootstrap from Debian's package
  mirror, then `docker import`. Its tag is a hash of its recipe
  (images/base/), so a changed recipe builds a new image.
* node: images/node/Dockerfile on top of the base, built with
  `docker build --network none`; its tag hashes the build context and the
  base tag, so changed in-node code builds a new image.

Every image carries the labels labnet.project and labnet.role: `lab images
list` shows ours (and which labs use them), pruning removes only ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from .. import PROJECT, PROJECT_ROOT
from ..digest import tree_digest
from ..errors import ImageError
from ..labels import LABEL_LAB, LABEL_PROJECT, LABEL_ROLE
from ..progress import Event, Progress, silent
from .protocol import ImageInfo

IMAGES_DIR = PROJECT_ROOT / "images"
BASE_DIR = IMAGES_DIR / "base"
NODE_DIR = IMAGES_DIR / "node"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_REPO = f"{PROJECT}/base"
NODE_REPO = f"{PROJECT}/node"


@dataclass(frozen=True)
class ImageSet:
    base: str
    node: str


def base_packages(recipe: Path = BASE_DIR) -> list[str]:
    lines = (recipe / "packages.txt").read_text().splitlines()
    return [ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()]


def recipe_tag(repo: str, recipe: Path) -> str:
    """The tag an image built from a debootstrap recipe folder gets."""
    return f"{repo}:{tree_digest(recipe, SUITE)}"


def wanted_tags() -> ImageSet:
    """The tags the current recipes produce."""
    base = recipe_tag(BASE_REPO, BASE_DIR)
    node = f"{NODE_REPO}:{tree_digest(NODE_DIR, base)}"
    return ImageSet(base=base, node=node)


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def missing_images(client: docker.DockerClient) -> list[str]:
    tags = wanted_tags()
    return [t for t in (tags.base, tags.node) if not _exists(client, t)]


def ensure_images(client: docker.DockerClient, progress: Progress = silent,
                  force: bool = False) -> ImageSet:
    """Build whichever image is missing (or both, with force). Returns the tags."""
    tags = wanted_tags()
    if force or not _exists(client, tags.base):
        build_base(client, tags.base, progress)
    else:
        progress(Event("image", f"base image {tags.base} is up to date"))
    if force or not _exists(client, tags.node):
        build_node(client, tags.base, tags.node, progress)
        prune_old_images(client, tags, progress)
    else:
        progress(Event("image", f"node image {tags.node} is up to date"))
    return tags


def _users(client: docker.DockerClient) -> dict[str, list[dict[str, Any]]]:
    """image id -> the containers (any, ours or not) made from it: one listing, no inspection."""
    users: dict[str, list[dict[str, Any]]] = {}
    for c in client.api.containers(all=True):
        users.setdefault(c["ImageID"], []).append(c)
    return users


def _ours(client: docker.DockerClient, role: str | None = None) -> list[dict[str, Any]]:
    """The engine's list of our images (of one role): by label only."""
    labels = [f"{LABEL_PROJECT}={PROJECT}"] + ([f"{LABEL_ROLE}={role}"] if role else [])
    found: list[dict[str, Any]] = client.api.images(filters={"label": labels})
    return found


def _tags(listed: dict[str, Any]) -> list[str]:
    return [t for t in listed.get("RepoTags") or [] if t != "<none>:<none>"]


def list_images(client: docker.DockerClient) -> list[ImageInfo]:
    """Our images (found by label), newest first, with the labs that use them."""
    wanted = wanted_tags()
    users = _users(client)
    out = []
    for listed in _ours(client):
        tags = _tags(listed)
        role = (listed.get("Labels") or {}).get(LABEL_ROLE, "")
        versions = [t.partition(":")[2] for t in tags if t.partition(":")[2] != "latest"]
        using = users.get(listed["Id"], [])
        labs = sorted({lab for c in using
                       if (lab := (c.get("Labels") or {}).get(LABEL_LAB))
                       and (c.get("Labels") or {}).get(LABEL_PROJECT) == PROJECT})
        others = sum(1 for c in using if (c.get("Labels") or {}).get(LABEL_PROJECT) != PROJECT
                     or not (c.get("Labels") or {}).get(LABEL_LAB))
        created = int(listed.get("Created") or 0)
        out.append(ImageInfo(
            id=listed["Id"].removeprefix("sha256:")[:12], role=role, tags=tags,
            recipe=versions[0] if versions else None, size=int(listed.get("Size") or 0),
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
            current=bool({wanted.base, wanted.node} & set(tags)), labs=labs, others=others))
    return sorted(out, key=lambda i: (i.created, i.role), reverse=True)


def prune_old_images(client: docker.DockerClient, keep: ImageSet, progress: Progress = silent) -> list[str]:
    """Remove base and node images of earlier recipes that no container uses
    (found by label; every in-node code change builds a new node image).
    Returns the tags (or short ids) removed."""
    used = set(_users(client))  # a listing only: no inspection races
    removed = []
    for role, repo, current in (("node", NODE_REPO, keep.node), ("base", BASE_REPO, keep.base)):
        for listed in _ours(client, role):
            all_tags = _tags(listed)
            tags = [t for t in all_tags if t.startswith(repo + ":")]
            if listed["Id"] in used or current in all_tags or set(all_tags) - set(tags):
                continue  # in use, current, or tagged by someone else too: keep
            try:
                client.images.remove(listed["Id"], force=True)
            except docker.errors.APIError:
                continue  # still needed (a child image, a container made meanwhile): leave it
            short = listed["Id"].removeprefix("sha256:")[:12]
            removed += tags or [short]
            progress(Event("image", f"removed the old image {', '.join(tags) or short}"))
    if _exists(client, keep.node):
        client.api.tag(keep.node, NODE_REPO, "latest")
    return removed


def prune_images(client: docker.DockerClient, progress: Progress = silent) -> list[str]:
    """`lab images prune`: our stale base and node images that nothing uses, removed."""
    return prune_old_images(client, wanted_tags(), progress)


def build_base(client: docker.DockerClient, tag: str, progress: Progress = silent,
               recipe: Path = BASE_DIR) -> None:
    """Bootstrap a root file system from a recipe folder (packages.txt,
    finalize.sh) and import it as `tag`."""
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed; run scripts/bootstrap.sh "
                         "(or apt-get install debootstrap) and try again")
    mirror = os.environ.get("LABNET_DEBIAN_MIRROR", DEFAULT_MIRROR)
    packages = base_packages(recipe)
    work = Path(tempfile.mkdtemp(prefix="labnet-base-", dir=os.environ.get("LABNET_TMP", "/var/tmp")))
    rootfs = work / "rootfs"
    try:
        progress(Event("image", f"bootstrapping Debian {SUITE} with {len(packages)} packages "
                                f"from {mirror} (about a minute)"))
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
               SUITE, str(rootfs), mirror]
        _run_streaming(cmd, progress, "debootstrap")
        shutil.copy(recipe / "finalize.sh", rootfs / "finalize.sh")
        _run_streaming(["chroot", str(rootfs), "/bin/sh", "/finalize.sh"], progress, "finalize")
        (rootfs / "finalize.sh").unlink()
        progress(Event("image", f"importing the root file system as {tag}"))
        tarball = work / "rootfs.tar"
        _run_streaming(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."],
                       progress, "tar")
        repo, _, version = tag.partition(":")
        client.api.import_image_from_file(
            str(tarball), repository=repo, tag=version,
            changes=[f"LABEL {LABEL_PROJECT}={PROJECT} {LABEL_ROLE}=base",
                     'CMD ["sleep", "infinity"]',
                     "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        )
        if not _exists(client, tag):
            raise ImageError(f"docker import did not produce {tag}")
        progress(Event("image", f"base image {tag} built"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_node(client: docker.DockerClient, base: str, tag: str,
               progress: Progress = silent) -> None:
    progress(Event("image", f"building node image {tag} (docker build --network none)"))
    try:
        for chunk in client.api.build(
            path=str(NODE_DIR), tag=tag, buildargs={"BASE": base}, network_mode="none",
            rm=True, forcerm=True, decode=True,
            labels={LABEL_PROJECT: PROJECT, LABEL_ROLE: "node"},
        ):
            if "error" in chunk:
                raise ImageError(f"building {tag} failed: {chunk['error'].strip()}")
            line = chunk.get("stream", "").strip()
            if line:
                progress(Event("image", line))
    except docker.errors.APIError as exc:
        raise ImageError(f"building {tag} failed: {exc.explanation or exc}") from exc
    client.api.tag(tag, NODE_REPO, "latest")
    progress(Event("image", f"node image {tag} built"))


def _run_streaming(cmd: list[str], progress: Progress, what: str) -> None:
    tail: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout or ():
            line = line.rstrip()
            tail = (tail + [line])[-15:]
            if line:
                progress(Event("image", f"{what}: {line}"))
    if proc.returncode != 0:
        raise ImageError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(tail))

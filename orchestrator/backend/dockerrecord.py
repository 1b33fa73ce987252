"""A lab's record on a Docker engine: a file in a container of its own that is
created, never started (no process, no memory), labelled with the lab like its
nodes, so that it goes with them on destroy and survives the engine's
restarts. What the record holds is orchestrator/record.py's business."""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import BackendError
from ..labels import LABEL_ROLE, lab_labels, record_name
from . import archive

#: the role label of the container holding a lab's record, and where in it the record is
ROLE_RECORD = "record"
RECORD_FILE = "/labnet/record.json.gz"


def find(listed: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The record's container among a lab's listed containers."""
    return next((c for c in listed if (c.get("Labels") or {}).get(LABEL_ROLE) == ROLE_RECORD), None)


def save(api: Any, lab: str, record: bytes, found: dict[str, Any] | None, image: str) -> None:
    errors = importlib.import_module("docker.errors")
    try:
        if found is None:
            labels = {**lab_labels(lab), LABEL_ROLE: ROLE_RECORD}
            created = api.create_container(image, name=record_name(lab), labels=labels, command=["true"],
                                           host_config=api.create_host_config(network_mode="none"))
            cid = created["Id"]
        else:
            cid = found["Id"]
        if not api.put_archive(cid, "/", archive.of_files({RECORD_FILE: record})):
            raise BackendError(f"storing the record of lab {lab} failed")
    except errors.APIError as exc:
        raise BackendError(f"storing the record of lab {lab}: {exc.explanation or exc}") from exc


def fetch(api: Any, cid: str) -> bytes | None:
    """The archive of the record file, through the SDK; None if it is not there."""
    errors = importlib.import_module("docker.errors")
    try:
        stream, _ = api.get_archive(cid, RECORD_FILE)
        return b"".join(stream)
    except errors.NotFound:
        return None

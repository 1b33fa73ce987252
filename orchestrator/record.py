"""The record of a deployed lab: the truth every later command works from.

At deploy the resolved Plan is stored with the lab on the engine (the backend
keeps it: `save_record`/`load_record`), with where it came from and the
digests of what it was made from: the lab file, every folder it serves, and
every file rendered into each node. `lab status`, `test`, `link`, `repair`,
... read the plan from here, so editing, moving or deleting the lab file
never changes what they think is running; comparing the digests with the
file tells when it changed (drift), and reconcile knows from them which
nodes' files differ.

The record is gzip-compressed JSON; `state` says how far the last deploy
or reconcile got ("deploying" or "reconciling" when it was interrupted).
"""

from __future__ import annotations

import gzip
import io
import json
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from . import __version__
from .contract import NodeFiles
from .digest import digest_of, text_digest
from .errors import LabStateError
from .plan import Plan

FORMAT = 1
#: the most a stored record may be, compressed and unpacked (a 3000-router plan is ~10 MB packed)
MAX_PACKED = 64 * 1024 * 1024
MAX_UNPACKED = 1024 * 1024 * 1024

State = Literal["deploying", "reconciling", "up"]


@dataclass
class Record:
    plan: Plan
    state: State = "up"
    #: the lab file and every folder its services serve -> digest (None: not there)
    sources: dict[str, str | None] = field(default_factory=dict)
    #: node -> {path inside the node -> digest of the rendered content}
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    deployed_at: str = ""
    labnet: str = __version__
    #: the exercise's faults dealt in the nodes (`lab deploy --exercise`): their places in the file
    dealt: list[str] = field(default_factory=list)

    @property
    def source(self) -> str | None:
        return self.plan.source

    def encode(self) -> bytes:
        # the fields but the plan, which goes as its own JSON (asdict would deep-copy it first)
        head = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "plan"}
        text = json.dumps({"format": FORMAT, **head}) + "\n" + self.plan.model_dump_json()
        return gzip.compress(text.encode(), compresslevel=6, mtime=0)

    @classmethod
    def decode(cls, data: bytes, lab: str) -> Record:
        """A stored record; LabStateError if it cannot be read (never a traceback)."""
        try:
            if len(data) > MAX_PACKED:
                raise ValueError(f"{len(data)} bytes packed")
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
                text = packed.read(MAX_UNPACKED + 1)
            if len(text) > MAX_UNPACKED:
                raise ValueError("too large unpacked")
            head_line, _, plan_text = text.partition(b"\n")
            head = json.loads(head_line)
            if head.get("format") != FORMAT:
                raise ValueError(f"format {head.get('format')!r}, this labnet reads {FORMAT}")
            return cls(plan=Plan.model_validate_json(plan_text), state=head["state"], sources=head["sources"],
                       files=head["files"], deployed_at=head["deployed_at"], labnet=head["labnet"],
                       dealt=list(head.get("dealt") or []))
        except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
            raise LabStateError(f"the stored plan of lab '{lab}' cannot be read ({exc}); redeploy it with "
                                f"'lab deploy --force', or remove it with 'lab destroy {lab}'") from None


def sources_of(plan: Plan) -> dict[str, str | None]:
    """The lab file and the folders it serves -> their digests now."""
    paths = [plan.source] if plan.source else []
    paths += sorted({files_from for n in plan.nodes.values() for files_from, _ in n.folders()})
    return {p: digest_of(Path(p)) for p in paths}


def digests_of(files: dict[str, NodeFiles]) -> dict[str, dict[str, str]]:
    return {node: {path: text_digest(text) for path, text in node_files.items()} for node, node_files in files.items()}


def make_record(plan: Plan, files: dict[str, NodeFiles], state: State) -> Record:
    return Record(plan=plan, state=state, sources=sources_of(plan), files=digests_of(files),
                  deployed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

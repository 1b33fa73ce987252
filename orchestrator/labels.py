"""The names this project gives things: labels and names of every engine
object it creates, lab and node names, the lab file.

Every lookup goes through these labels, never through name patterns: status,
destroy and clean-up find a lab's objects by `labnet.lab`, and `destroy --all`
touches only what carries `labnet.project=labnet`. Standard library only.
"""

from __future__ import annotations

import re

from . import PROJECT

#: a lab is a folder holding this file (or the file itself)
LAB_FILE = "lab.yml"

#: lab and node names: they become hostnames and parts of container names
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")

LABEL_PROJECT = f"{PROJECT}.project"
LABEL_LAB = f"{PROJECT}.lab"
LABEL_NODE = f"{PROJECT}.node"
LABEL_KIND = f"{PROJECT}.kind"
LABEL_SOURCE = f"{PROJECT}.source"
LABEL_ROLE = f"{PROJECT}.role"     # images: base or node


def container_name(lab: str, node: str) -> str:
    return f"{PROJECT}-{lab}-{node}"


def record_name(lab: str) -> str:
    """The name of the object holding a lab's record (the '_' keeps it apart from any node's)."""
    return f"{PROJECT}-{lab}_record"


def lab_labels(lab: str) -> dict[str, str]:
    return {LABEL_PROJECT: PROJECT, LABEL_LAB: lab}


def node_labels(lab: str, node: str, kind: str, source: str | None) -> dict[str, str]:
    labels = {**lab_labels(lab), LABEL_NODE: node, LABEL_KIND: kind}
    if source:
        labels[LABEL_SOURCE] = source
    return labels

#: where the netns backend keeps each lab's state folder (its record, nodes,
#: private files): how a lab run by it is found, also after a crash
NETNS_STATE_ROOT = "/var/lib/labnet/netns"

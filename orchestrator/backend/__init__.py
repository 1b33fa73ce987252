"""Backends: the only code that touches a container engine or netlink.

    protocol      the Backend protocol and the states it reports
    dockerengine  DockerBackend: nodes are containers, links veth pairs
    netns         NetnsBackend: nodes are namespaces of this machine (no Docker)
    netns_holder  the keeper and holder processes of netns nodes (standard library)
    engineapi     the engine's read-only lookups over its socket (standard library)
    dockerexec    programs streamed out of a container (capture, logs)
    archive       tar archives of a node's files and served folders
    parallel      the bounded thread pool of the per-node steps
    netlink       pyroute2 inside the nodes' namespaces: veths, link state, routes, tc
    images        the node images, built locally and offline
"""

from .protocol import Backend, ExecResult, InterfaceState, LabSummary, NodeState, Stream

__all__ = ["Backend", "ExecResult", "InterfaceState", "LabSummary", "NodeState", "Stream"]

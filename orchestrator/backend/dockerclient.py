"""Reaching the Docker engine: the SDK's client (loaded when first needed),
and the command-line client for interactive sessions."""

from __future__ import annotations

import importlib
import shutil
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, EngineUnavailable

if TYPE_CHECKING:
    import docker


class OnFirstUse(ModuleType):
    """A module imported when first used: `lab status` needs neither the SDK (its
    lookups go through engineapi), pyroute2 (netlink) nor the image recipes,
    and starts a third of a second faster without them."""

    def __init__(self, name: str):
        super().__init__(name)
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self.__name__)
        return getattr(self._module, attr)


def connect() -> docker.DockerClient:
    """A client for the local engine, API version negotiated."""
    try:
        client = importlib.import_module("docker").from_env(version="auto", timeout=120)
        if str(client.api.base_url).startswith("http+docker://"):
            # a unix socket: no proxy applies, so requests need not read the environment for
            # one on every call (a tenth of a deploy's own CPU went there)
            client.api.trust_env = False
        client.ping()
        return client
    except Exception as exc:  # the SDK raises several unrelated types here
        raise EngineUnavailable(
            "no Docker engine answers on this machine "
            f"({exc.__class__.__name__}: {exc}); start one with scripts/bootstrap.sh"
        ) from None


def docker_cli() -> str:
    """Debian's client (matches the engine) if present, else whatever is on PATH."""
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and shutil.which(candidate):
            return candidate
    raise BackendError("no docker command-line client found (apt-get install docker.io)")


def engine_lost(exc: BaseException) -> EngineUnavailable | None:
    """The error to raise when `exc` says the engine stopped answering
    mid-command (its socket closed or refused); None for any other error."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    modules = {cls.__module__.split(".")[0] for cls in type(exc).__mro__}
    lost = ("ConnectionError" in names and modules & {"requests", "urllib3"}) or "ProtocolError" in names \
        or isinstance(exc, (ConnectionRefusedError, ConnectionResetError, BrokenPipeError))
    if not lost:
        return None
    text = " ".join(str(exc).split()) or type(exc).__name__
    return EngineUnavailable(f"the Docker engine stopped answering ({type(exc).__name__}: {text[:200]}); "
                             "check that dockerd runs (scripts/bootstrap.sh starts it), then run the "
                             "command again")

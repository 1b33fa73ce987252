"""What both the lab file's models and the plan use, kept apart from them so
that reading a stored plan (every `lab` command on a running lab) does not
build the lab file's models: a node's default limits, a link's default cost,
and the impairment type."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict

from . import units

#: Defaults of what one node may use. They let a 100-node lab fit a 24 GiB
#: machine even if every node used its whole memory (100 x 192 MiB =
#: 18.75 GiB), stop a fork bomb at 512 processes, and leave a second core to
#: the rest of the machine on a 2-core one.
DEFAULT_PIDS = 512
DEFAULT_MEMORY = 192 * 1024**2
DEFAULT_CPUS = 1.0
#: the routing cost of a link or LAN that names none
DEFAULT_COST = 10


class ImpairmentFault(Enum):
    """What can be wrong with an impairment; the value is how the lab file says it."""

    NOTHING = "an impairment needs at least one of delay, jitter, loss, rate"
    JITTER_ALONE = "jitter varies a delay: give a delay too (e.g. delay: 50ms, jitter: 5ms)"


class Impairment(BaseModel):
    """What happens to the packets leaving an interface (tc netem, or tbf for a
    rate alone): the one impairment type of the project. The lab file writes it
    with units (ImpairSpec), `lab impair` with options; both end here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    rate_kbit: int = 0       # 0: no rate limit

    def fault(self) -> ImpairmentFault | None:
        """Why this impairment cannot be applied, or None. The rules, once."""
        if not (self.delay_ms or self.jitter_ms or self.loss_pct or self.rate_kbit):
            return ImpairmentFault.NOTHING
        if self.jitter_ms and not self.delay_ms:
            return ImpairmentFault.JITTER_ALONE
        return None

    def describe(self) -> str:
        parts = []
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms:g}ms" + (f" ±{self.jitter_ms:g}ms" if self.jitter_ms else ""))
        if self.loss_pct:
            parts.append(f"loss {self.loss_pct:g}%")
        if self.rate_kbit:
            parts.append(f"rate {units.format_rate(self.rate_kbit)}")
        return ", ".join(parts) or "none"

"""TCP's timers and congestion control, as plain arithmetic.

RtoEstimator (RFC 6298): the first RTT sample R sets SRTT = R, RTTVAR =
R/2; later ones RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT +
1/8 R; RTO = SRTT + max(G, 4 RTTVAR), clamped to [min_rto, MAX_RTO].
Before any sample RTO is 1 s.  A timeout doubles RTO (backoff) until the
next valid sample.  Karn's rule (which samples are valid: none from a
retransmitted segment) is applied by the caller, tcp.Connection.

min_rto is 0.2 s by default, as in Linux, not RFC 6298's 1 s: on a lab
link RTTs are well under a millisecond and a 1 s floor makes every lost
tail segment cost a second.

Congestion (RFC 5681 with NewReno fast recovery, RFC 6582), all in bytes:
  * initial window IW = min(4 MSS, max(2 MSS, 4380));
  * slow start while cwnd < ssthresh: cwnd += min(acked, MSS) per ACK;
  * congestion avoidance: cwnd += MSS*MSS/cwnd per ACK (about one MSS per RTT);
  * third duplicate ACK: ssthresh = max(flight/2, 2 MSS), retransmit the
    first unacknowledged segment, cwnd = ssthresh + 3 MSS, and each further
    duplicate inflates cwnd by MSS; an ACK covering everything sent before
    the loss (`recover`) ends recovery with cwnd = ssthresh; a partial ACK
    retransmits the next hole and deflates cwnd by the amount acked (less MSS);
  * retransmission timeout: ssthresh = max(flight/2, 2 MSS), cwnd = 1 MSS.
"""

from __future__ import annotations

INITIAL_RTO = 1.0
MIN_RTO = 0.2
MAX_RTO = 60.0
CLOCK_GRANULARITY = 0.001
INITIAL_SSTHRESH = 1 << 30  # "arbitrarily high" (RFC 5681 3.1)
DUPACK_THRESHOLD = 3


class RtoEstimator:
    def __init__(self, min_rto: float = MIN_RTO) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.min_rto = min_rto
        self.rto = INITIAL_RTO
        self.samples = 0

    def sample(self, rtt: float) -> None:
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.samples += 1
        self.rto = min(MAX_RTO, max(self.min_rto, self.srtt + max(CLOCK_GRANULARITY, 4 * self.rttvar)))

    def backoff(self) -> None:
        self.rto = min(MAX_RTO, self.rto * 2)


class Congestion:
    def __init__(self, mss: int) -> None:
        self.mss = mss
        self.cwnd = initial_window(mss)
        self.ssthresh = INITIAL_SSTHRESH
        self.dupacks = 0
        self.in_recovery = False
        self.recover = 0  # snd_nxt when recovery began (sequence number)

    def on_new_ack(self, acked: int) -> None:
        """Cumulative ACK of `acked` new bytes, outside fast recovery."""
        self.dupacks = 0
        if self.cwnd < self.ssthresh:
            self.cwnd += min(acked, self.mss)
        else:
            self.cwnd += max(1, self.mss * self.mss // self.cwnd)

    def enter_recovery(self, flight: int, snd_nxt: int) -> None:
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.ssthresh + DUPACK_THRESHOLD * self.mss
        self.in_recovery = True
        self.recover = snd_nxt

    def on_dupack_in_recovery(self) -> None:
        self.cwnd += self.mss

    def on_partial_ack(self, acked: int) -> None:
        self.cwnd = max(self.mss, self.cwnd - acked + self.mss)

    def exit_recovery(self) -> None:
        self.cwnd = self.ssthresh
        self.in_recovery = False
        self.dupacks = 0

    def on_timeout(self, flight: int) -> None:
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.mss
        self.in_recovery = False
        self.dupacks = 0


def initial_window(mss: int) -> int:
    return min(4 * mss, max(2 * mss, 4380))

"""RTO estimation (RFC 6298) and congestion control (RFC 5681, NewReno) arithmetic."""
from __future__ import annotations

import pytest

from labnode.stack.congestion import INITIAL_RTO, MAX_RTO, Congestion, RtoEstimator, initial_window


def test_rto_before_any_sample_is_one_second():
    assert RtoEstimator().rto == INITIAL_RTO


def test_first_and_second_samples():
    est = RtoEstimator(min_rto=0.0)
    est.sample(0.100)
    assert est.srtt == pytest.approx(0.100) and est.rttvar == pytest.approx(0.050)
    assert est.rto == pytest.approx(0.100 + 4 * 0.050)
    est.sample(0.200)
    assert est.rttvar == pytest.approx(0.75 * 0.050 + 0.25 * 0.100)
    assert est.srtt == pytest.approx(0.875 * 0.100 + 0.125 * 0.200)
    assert est.rto == pytest.approx(est.srtt + 4 * est.rttvar)


def test_rto_is_clamped_to_the_minimum_and_backs_off_to_the_maximum():
    est = RtoEstimator(min_rto=0.2)
    est.sample(0.0001)
    assert est.rto == 0.2
    for _ in range(20):
        est.backoff()
    assert est.rto == MAX_RTO


def test_initial_window():
    assert initial_window(1460) == 4380
    assert initial_window(536) == 2144
    assert initial_window(4000) == 8000


def test_slow_start_grows_by_the_bytes_acked_up_to_one_mss():
    cc = Congestion(1000)
    start = cc.cwnd
    cc.on_new_ack(500)
    cc.on_new_ack(3000)
    assert cc.cwnd == start + 500 + 1000


def test_congestion_avoidance_grows_about_one_mss_per_window():
    cc = Congestion(1000)
    cc.ssthresh = cc.cwnd = 10000
    for _ in range(10):
        cc.on_new_ack(1000)
    assert 10900 <= cc.cwnd <= 11000


def test_fast_recovery_inflates_and_deflates():
    cc = Congestion(1000)
    cc.cwnd = 20000
    cc.enter_recovery(flight=16000, snd_nxt=123)
    assert (cc.ssthresh, cc.cwnd, cc.recover, cc.in_recovery) == (8000, 11000, 123, True)
    cc.on_dupack_in_recovery()
    assert cc.cwnd == 12000
    cc.on_partial_ack(3000)
    assert cc.cwnd == 10000
    cc.exit_recovery()
    assert (cc.cwnd, cc.in_recovery) == (8000, False)


def test_timeout_collapses_to_one_segment():
    cc = Congestion(1000)
    cc.cwnd = 30000
    cc.on_timeout(flight=3000)
    assert (cc.cwnd, cc.ssthresh) == (1000, 2000)

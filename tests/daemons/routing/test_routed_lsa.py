"""LSA ordering, checksums and the ageing database."""
from __future__ import annotations

import pytest

from labnode.routing.lsa import LSA, LSDB, Link, Prefix, compare

MAX_AGE = 60


def lsa(seq=5, age=0, links=((2, 10),), prefixes=((0x0A000000, 24, 0),), rid=1):
    return LSA(rid, seq, age, tuple(Link(*link) for link in links), tuple(Prefix(*p) for p in prefixes))


def test_higher_sequence_is_newer_regardless_of_age():
    assert compare(lsa(seq=6, age=50), lsa(seq=5, age=0), MAX_AGE) == 1
    assert compare(lsa(seq=5, age=0), lsa(seq=6, age=50), MAX_AGE) == -1


def test_same_instance_with_different_ages_is_the_same():
    assert compare(lsa(age=3), lsa(age=40), MAX_AGE) == 0


def test_equal_sequence_different_content_ordered_by_checksum():
    a, b = lsa(links=((2, 10),)), lsa(links=((2, 11),))
    assert a.checksum != b.checksum
    assert compare(a, b, MAX_AGE) == -compare(b, a, MAX_AGE) != 0


def test_max_age_copy_beats_live_copy_of_same_instance():
    assert compare(lsa(age=MAX_AGE), lsa(age=1), MAX_AGE) == 1
    assert compare(lsa(age=1), lsa(age=MAX_AGE + 5), MAX_AGE) == -1


def test_checksum_ignores_age_but_covers_content():
    assert lsa(age=0).checksum == lsa(age=30).checksum
    assert lsa().checksum != lsa(prefixes=((0x0A000000, 25, 0),)).checksum
    assert lsa().checksum != lsa(seq=6).checksum
    assert lsa().checksum != lsa(rid=9).checksum
    # links and prefixes cannot be confused with one another
    assert lsa(links=(), prefixes=()).checksum != lsa(links=((2, 10),), prefixes=()).checksum


def test_with_age_clamps_and_keeps_identity_when_unchanged():
    a = lsa(age=4)
    assert a.with_age(4) is a
    assert a.with_age(-3).age == 0
    assert a.with_age(1e9).age == 0xFFFF
    assert a.with_age(7.9).age == 7


def test_database_ages_entries_then_keeps_dead_ones_for_the_flush_hold():
    db = LSDB(MAX_AGE, flush_hold=2.0)
    db.install(lsa(rid=1, age=10), now=100.0)
    db.install(lsa(rid=2, age=0), now=100.0)
    assert db.get(1, 120.0).age == 30
    assert db.next_expiry() == pytest.approx(150.0)
    assert db.expire(149.9) == ([], [])
    assert db.expire(150.0) == ([1], [])  # dead: still stored, no longer used by SPF
    assert 1 in db and not db.is_live(1, 150.0) and set(db.lsas(150.0)) == {2}
    assert db.get(1, 151.0).age == MAX_AGE
    assert db.next_expiry() == pytest.approx(152.0)
    assert db.expire(151.0) == ([], [])  # reported once
    assert db.expire(152.0) == ([], [1])
    assert 1 not in db and 2 in db
    assert db.get(2, 1000.0).age == MAX_AGE  # capped, even before expire() runs
    assert db.expire(1000.0) == ([2], [2]) and len(db) == 0 and db.next_expiry() is None


def test_a_flush_arrives_dead_and_blocks_older_copies():
    db = LSDB(MAX_AGE, flush_hold=2.0)
    db.install(lsa(seq=7, age=MAX_AGE), now=10.0)
    assert db.lsas(10.0) == {} and db.expire(10.0) == ([1], [])
    stale = lsa(seq=6, age=3)
    assert compare(stale, db.get(1, 11.0), MAX_AGE) == -1
    assert db.expire(12.0) == ([], [1])


def test_install_replaces_and_restarts_the_age():
    db = LSDB(MAX_AGE, flush_hold=0.0)
    db.install(lsa(seq=1, age=50), now=0.0)
    db.install(lsa(seq=2, age=0), now=40.0)
    current = db.get(1, 45.0)
    assert (current.seq, current.age) == (2, 5)
    assert db.expire(99.0) == ([], []) and db.expire(100.0) == ([1], [1])


def test_snapshot_sorted_and_lsas_for_spf():
    db = LSDB(MAX_AGE)
    for rid in (3, 1, 2):
        db.install(lsa(rid=rid), now=0.0)
    assert [entry.router_id for entry in db.snapshot(1.0)] == [1, 2, 3]
    assert set(db.lsas(1.0)) == {1, 2, 3}
    assert db.remove(2).router_id == 2 and db.remove(2) is None


def test_max_age_bounds():
    with pytest.raises(ValueError):
        LSDB(0)
    with pytest.raises(ValueError):
        LSDB(70000)

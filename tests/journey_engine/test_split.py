"""Random split and control group: stable hashes, weights, declared winner (pure)."""

from collections import Counter

from campaigns.engine import Fail, Visit, stable_fraction
from tests.journey_engine.helpers import graph, run, state


def _split(branches, winner=None):
    config = {"branches": branches, **({"winner": winner} if winner else {})}
    return graph({"key": "x", "kind": "split", "config": config,
                  "exits": {b["name"]: None for b in branches}})


ABC = [{"name": "A", "weight": 50}, {"name": "B", "weight": 30}, {"name": "C", "weight": 20}]


def _branch(g, profile_id, campaign_id=3):
    decision = run(g, state("x", profile_id=profile_id), campaign_id=campaign_id)
    return decision.actions[0].outcome


def test_weights_hold_within_two_points_over_ten_thousand_profiles():
    g = _split(ABC)
    counts = Counter(_branch(g, pid) for pid in range(1, 10_001))
    assert abs(counts["A"] / 10_000 - 0.50) <= 0.02
    assert abs(counts["B"] / 10_000 - 0.30) <= 0.02
    assert abs(counts["C"] / 10_000 - 0.20) <= 0.02


def test_the_same_profile_always_takes_the_same_branch():
    g = _split(ABC)
    assert [_branch(g, 42) for _ in range(5)] == [_branch(g, 42)] * 5


def test_another_campaign_shuffles_the_branches():
    g = _split([{"name": "A", "weight": 1}, {"name": "B", "weight": 1}])
    here = [_branch(g, pid, campaign_id=3) for pid in range(200)]
    there = [_branch(g, pid, campaign_id=4) for pid in range(200)]
    assert here != there


def test_a_declared_winner_takes_everyone():
    g = _split(ABC, winner="B")
    assert {_branch(g, pid) for pid in range(300)} == {"B"}
    assert run(g, state("x")).actions[0] == Visit("x", "B", "winner")


def test_an_unknown_winner_is_ignored():
    g = _split(ABC, winner="Z")
    assert {_branch(g, pid) for pid in range(300)} == {"A", "B", "C"}


def test_zero_weight_branch_is_never_taken():
    g = _split([{"name": "A", "weight": 0}, {"name": "B", "weight": 1}])
    assert {_branch(g, pid) for pid in range(500)} == {"B"}


def test_split_without_weight_fails():
    g = _split([{"name": "A", "weight": 0}])
    assert isinstance(run(g, state("x")).actions[-1], Fail)


def test_stable_fraction_is_sha256_of_campaign_and_profile():
    import hashlib

    digest = hashlib.sha256(b"3:42:x").hexdigest()
    assert stable_fraction(3, 42, "x") == int(digest[:15], 16) / 16**15
    assert 0 <= stable_fraction(3, 42) < 1

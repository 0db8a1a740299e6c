"""The report's statistics, against values computed by hand or published tables (no DB)."""

import math

import pytest

from campaigns.reports.statistics import (
    compare,
    difference_interval,
    two_proportion_z_test,
    wilson_interval,
)


def test_wilson_interval_matches_the_textbook_example():
    # Newcombe (1998), 81 of 263: 0.2553 to 0.3662.
    interval = wilson_interval(81, 263)
    assert interval.low == pytest.approx(0.2553, abs=1e-4)
    assert interval.high == pytest.approx(0.3662, abs=1e-4)


def test_wilson_interval_stays_inside_zero_and_one_at_the_edges():
    assert wilson_interval(0, 10).low == 0.0
    assert wilson_interval(0, 10).high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10).high == pytest.approx(1.0)
    assert (wilson_interval(0, 0).low, wilson_interval(0, 0).high) == (0.0, 0.0)


def test_two_proportion_z_test_by_hand():
    # 200/1000 vs 250/1000: pooled 0.225, SE = sqrt(.225*.775*.002) = 0.018675, z = 2.6774.
    z, p = two_proportion_z_test(200, 1000, 250, 1000)
    assert z == pytest.approx(2.6774, abs=1e-3)
    assert p == pytest.approx(math.erfc(2.6774 / math.sqrt(2)), abs=1e-4)
    assert p == pytest.approx(0.0074, abs=2e-4)


def test_equal_rates_are_not_significant_and_empty_groups_do_not_divide_by_zero():
    assert two_proportion_z_test(50, 500, 50, 500) == (0.0, 1.0)
    assert two_proportion_z_test(0, 0, 5, 10) == (0.0, 1.0)
    assert two_proportion_z_test(0, 10, 0, 10) == (0.0, 1.0)


def test_difference_interval_of_the_lift():
    interval = difference_interval(200, 1000, 250, 1000)
    se = math.sqrt(0.2 * 0.8 / 1000 + 0.25 * 0.75 / 1000)
    assert interval.low == pytest.approx(0.05 - 1.96 * se, abs=1e-4)
    assert interval.high == pytest.approx(0.05 + 1.96 * se, abs=1e-4)


def test_compare_reports_lift_and_significance():
    result = compare(200, 1000, 250, 1000)
    assert result.lift == pytest.approx(0.25)
    assert result.significant
    small = compare(2, 10, 3, 10)
    assert not small.significant
    assert compare(0, 10, 3, 10).lift is None


def test_series_is_hourly_for_three_days_then_daily():
    from datetime import UTC, datetime, timedelta

    from campaigns.reports.series import buckets

    start = datetime(2026, 1, 1, 10, tzinfo=UTC)
    hourly = {start: {"sent": 5}, start + timedelta(hours=1): {"sent": 2, "opened": 1},
              start + timedelta(days=3, hours=1): {"sent": 3},
              start + timedelta(days=3, hours=20): {"sent": 4},
              start + timedelta(days=5): {"sent": 7}}

    points = buckets(hourly, metrics=("sent", "opened"), start=start,
                     end=start + timedelta(days=6))

    hours = [p for p in points if p["unit"] == "hour"]
    days = [p for p in points if p["unit"] == "day"]
    assert len(hours) == 72
    assert (hours[0]["sent"], hours[1]["sent"], hours[1]["opened"]) == (5, 2, 1)
    assert [p["at"] for p in points] == sorted(p["at"] for p in points)
    assert days[0]["at"] == start + timedelta(days=3)
    assert days[0]["sent"] == 3  # the rest of day 3 from 10:00
    assert days[1]["sent"] == 4  # Jan 5 (a UTC day)
    assert sum(p["sent"] for p in points) == 21

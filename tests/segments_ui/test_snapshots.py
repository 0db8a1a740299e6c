"""The daily count snapshot job."""

from datetime import UTC, datetime, timedelta

import pytest

from profiles.models import SegmentCountSnapshot
from profiles.segment_jobs import snapshot_segment_counts
from tests.factories import ProfileFactory, SegmentFactory

pytestmark = pytest.mark.django_db

PRO = {"all": [{"type": "attribute", "key": "plan", "value_type": "string", "op": "equals",
                "value": "pro"}]}
NOON = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def test_each_segment_gets_one_snapshot_for_the_day():
    pro = SegmentFactory(name="Pro", rules=PRO)
    everyone = SegmentFactory(name="Everyone", rules={"all": []})
    ProfileFactory.create_batch(2, attributes={"plan": "pro"})
    ProfileFactory(attributes={"plan": "free"})

    result = snapshot_segment_counts(now=NOON)

    assert result == {"taken": 2, "failed": 0}
    assert dict(SegmentCountSnapshot.objects.values_list("segment_id", "count")) == {
        pro.pk: 2, everyone.pk: 3}
    assert set(SegmentCountSnapshot.objects.values_list("day", flat=True)) == {NOON.date()}


def test_a_second_run_the_same_day_updates_the_count_instead_of_adding_a_row():
    segment = SegmentFactory(rules=PRO)
    ProfileFactory(attributes={"plan": "pro"})
    snapshot_segment_counts(now=NOON)
    ProfileFactory(attributes={"plan": "pro"})

    snapshot_segment_counts(now=NOON + timedelta(hours=3))

    assert list(SegmentCountSnapshot.objects.filter(segment=segment)
                .values_list("day", "count")) == [(NOON.date(), 2)]


def test_the_next_day_adds_a_snapshot():
    segment = SegmentFactory(rules=PRO)
    snapshot_segment_counts(now=NOON)

    snapshot_segment_counts(now=NOON + timedelta(days=1))

    assert SegmentCountSnapshot.objects.filter(segment=segment).count() == 2


def test_a_segment_whose_rules_fail_does_not_cost_the_others_their_snapshot():
    SegmentFactory(name="Stale", rules={"all": [{"type": "attribute", "key": "gone",
                                                 "op": "equals", "value": "x"}]})
    good = SegmentFactory(name="Good", rules={"all": []})

    result = snapshot_segment_counts(now=NOON)

    assert result == {"taken": 1, "failed": 1}
    assert list(SegmentCountSnapshot.objects.values_list("segment_id", flat=True)) == [good.pk]


def test_the_job_is_registered_daily_with_the_cron_scheduler():
    import rq.cron

    import config.cron  # noqa: F401  (registers on import)

    jobs = {job["func"]: job for job in rq.cron._job_data_registry}
    assert jobs[snapshot_segment_counts]["cron"] == "30 2 * * *"

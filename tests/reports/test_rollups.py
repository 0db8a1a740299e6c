"""Rollups: the trigger counts every insert path, and a rebuild gives the same counts."""

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum

from channels.models import DeliveryEvent, DeliveryRollup, DeliveryStatus
from channels.rollups import (
    rollups_daily_from_hourly,
    rollups_daily_stored,
    rollups_raw_counts,
    rollups_stored,
)
from tests.reports.mix import send_and_engage

pytestmark = pytest.mark.django_db


def rollup_total(step, status: str, field: str = "count") -> int:
    rows = DeliveryRollup.objects.filter(step=step, status=status)
    return rows.aggregate(n=Sum(field))["n"] or 0


def test_rollups_equal_the_raw_log_after_a_send_tracking_and_feedback(outbox):
    mix = send_and_engage()

    stored = rollups_stored()
    assert stored == rollups_raw_counts()
    assert rollups_daily_stored() == rollups_daily_from_hourly()
    events = DeliveryEvent.objects.filter(delivery__campaign_step=mix.step)
    for row in events.values("status").annotate(n=Count("id")):
        assert rollup_total(mix.step, row["status"]) == row["n"], row
    # Unique opens and clicks: distinct deliveries, whatever the number of clicks.
    assert rollup_total(mix.step, "opened", "firsts") == 4
    assert rollup_total(mix.step, "clicked") == 4
    assert rollup_total(mix.step, "clicked", "firsts") == 2
    clicks = DeliveryRollup.objects.filter(step=mix.step, status="clicked")
    urls = clicks.values_list("url", flat=True)
    assert sorted(set(urls)) == ["https://a.example/x", "https://b.example/y"]
    assert rollup_total(mix.step, "sent") == 6
    skipped = DeliveryRollup.objects.filter(step=mix.step, status="skipped")
    assert sorted(skipped.values_list("reason", flat=True)) == ["missing_address", "unsubscribed"]


def test_proof_sends_are_not_counted(outbox):
    send_and_engage()

    assert DeliveryEvent.objects.filter(delivery__is_proof=True).exists()
    assert not DeliveryRollup.objects.filter(campaign__isnull=True).exists()


def test_rollups_carry_the_sending_domain_and_utc_hours(outbox):
    mix = send_and_engage()

    assert set(DeliveryRollup.objects.filter(step=mix.step).values_list("domain", flat=True)) \
        == {"mail.example.org"}
    hours = DeliveryRollup.objects.filter(status="delivered").values_list("hour", flat=True)
    assert len(set(hours)) >= 4  # feedback timestamps an hour apart land in their own hour
    assert all(h.minute == 0 and h.second == 0 for h in hours)


def test_rebuild_recomputes_lost_or_wrong_rollups(outbox):
    mix = send_and_engage()
    before = rollups_stored()
    DeliveryRollup.objects.filter(status=DeliveryStatus.SENT).delete()
    DeliveryRollup.objects.filter(status=DeliveryStatus.OPENED).update(count=999)

    call_command("rebuild_rollups", verbosity=0)

    assert rollups_stored() == before
    assert rollups_daily_stored() == rollups_daily_from_hourly()
    assert rollup_total(mix.step, "sent") == 6

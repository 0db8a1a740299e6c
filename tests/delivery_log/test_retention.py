"""Delivery log retention (channels/retention.py): expired, finished deliveries and their
status logs are deleted in chunks; work in progress and young rows stay."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels.jobs import purge_expired_deliveries
from channels.models import Delivery, DeliveryEvent, DeliveryStatus
from channels.retention import deliveries_purge
from tests.factories import DeliveryFactory, StepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def retention(settings):
    settings.DELIVERY_RETENTION_DAYS = 400


def delivery(step, *, days_old: int, status=DeliveryStatus.SENT) -> Delivery:
    created = timezone.now() - timedelta(days=days_old)
    d = DeliveryFactory(campaign_step=step, status=status)
    Delivery.objects.filter(pk=d.pk).update(created_at=created)
    for event_status in (DeliveryStatus.QUEUED, status):
        DeliveryEvent.objects.create(delivery=d, status=event_status, occurred_at=created)
    return d


def test_expired_finished_deliveries_go_with_their_status_log():
    step = StepFactory()
    old = [delivery(step, days_old=401, status=s) for s in (
        DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED,
        DeliveryStatus.OPENED, DeliveryStatus.UNKNOWN)]
    young = delivery(step, days_old=399)

    assert deliveries_purge() == len(old)

    assert list(Delivery.objects.values_list("id", flat=True)) == [young.pk]
    assert set(DeliveryEvent.objects.values_list("delivery_id", flat=True)) == {young.pk}


def test_work_in_progress_is_never_deleted_whatever_its_age():
    step = StepFactory()
    kept = [delivery(step, days_old=900, status=s) for s in (
        DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING)]
    gone = delivery(step, days_old=900)

    assert deliveries_purge() == 1

    assert sorted(Delivery.objects.values_list("id", flat=True)) == [d.pk for d in kept]
    assert not DeliveryEvent.objects.filter(delivery_id=gone.pk).exists()
    assert DeliveryEvent.objects.filter(delivery_id__in=[d.pk for d in kept]).count() == 6


def test_the_purge_walks_in_chunks_past_rows_it_keeps():
    step = StepFactory()
    rows = []
    for i in range(10):  # expired rows with queued ones of the same age in between
        rows.append(delivery(step, days_old=500))
        if i % 3 == 0:
            rows.append(delivery(step, days_old=500, status=DeliveryStatus.QUEUED))
    young = delivery(step, days_old=1)

    with CaptureQueriesContext(connection) as queries:
        assert deliveries_purge(chunk=3) == 10

    # 10 expired in chunks of 3: four chunk reads (3, 3, 3, 1), each with its two deletes.
    chunk_reads = [q for q in queries.captured_queries if "FOR UPDATE SKIP LOCKED" in q["sql"]]
    deletes = [q for q in queries.captured_queries if q["sql"].startswith("DELETE FROM")]
    assert (len(chunk_reads), len(deletes)) == (4, 8)
    left = set(Delivery.objects.values_list("id", flat=True))
    assert left == {d.pk for d in rows if d.status == DeliveryStatus.QUEUED} | {young.pk}


def test_zero_days_keeps_everything(settings):
    settings.DELIVERY_RETENTION_DAYS = 0
    delivery(StepFactory(), days_old=5000)

    assert deliveries_purge() == 0
    assert Delivery.objects.count() == 1


def test_the_daily_job_purges_and_is_registered_with_cron():
    delivery(StepFactory(), days_old=401)

    assert purge_expired_deliveries() == 1
    assert not Delivery.objects.exists()
    with open("config/cron.py") as source:
        assert "cron.register(purge_expired_deliveries" in source.read()

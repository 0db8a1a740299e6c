"""The daily job keeps event partitions from the retention horizon to a few months ahead."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from profiles.jobs import maintain_event_partitions
from profiles.models import Event, EventReceipt
from profiles.partitions import existing_partitions, month_start, next_month, partition_name
from tests.factories import ProfileFactory


@pytest.mark.django_db
def test_a_year_later_it_creates_the_new_months_and_drops_the_expired_ones():
    now = timezone.now()
    profile = ProfileFactory()
    recent = Event.objects.create(profile=profile, name="recent", occurred_at=now)
    old = Event.objects.create(profile=profile, name="old", occurred_at=now - timedelta(days=200))
    later = now + timedelta(days=365)
    _fire_deferred_foreign_key_checks()

    outcome = maintain_event_partitions(now=later)

    months = existing_partitions()
    assert month_start(later) in months
    assert next_month(next_month(month_start(later))) in months
    assert partition_name(month_start(later)) in outcome["created"]
    assert partition_name(month_start(old.occurred_at)) in outcome["dropped"]
    assert month_start(old.occurred_at) not in months
    assert list(Event.objects.values_list("id", flat=True)) == [recent.pk]


@pytest.mark.django_db
def test_it_deletes_receipts_past_the_horizon_and_keeps_the_others():
    now = timezone.now()
    EventReceipt.objects.create(source="s", message_id="old", event_id=1, occurred_at=now,
                                received_at=now - timedelta(days=500))
    EventReceipt.objects.create(source="s", message_id="new", event_id=2, occurred_at=now,
                                received_at=now - timedelta(days=10))

    outcome = maintain_event_partitions(now=now)

    assert outcome["receipts_deleted"] == 1
    assert list(EventReceipt.objects.values_list("message_id", flat=True)) == ["new"]


@pytest.mark.django_db
def test_running_it_twice_changes_nothing_the_second_time():
    maintain_event_partitions()

    again = maintain_event_partitions()

    assert (again["created"], again["dropped"]) == ([], [])


def _fire_deferred_foreign_key_checks() -> None:
    # The test runs in one transaction: the events' deferred FK checks would still be pending
    # and PostgreSQL refuses to drop a table with pending trigger events. The daily job runs
    # in its own transaction, where there are none.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_an_expired_month_is_detached_concurrently_then_dropped():
    # Given an event in a month that will be past the horizon a year from now
    now = timezone.now()
    profile = ProfileFactory()
    old = Event.objects.create(profile=profile, name="old", occurred_at=now - timedelta(days=200))

    # When the job runs in autocommit, as the RQ worker runs it
    outcome = maintain_event_partitions(now=now + timedelta(days=365))

    # Then that month is gone and the partitions of the coming months exist
    assert partition_name(month_start(old.occurred_at)) in outcome["dropped"]
    assert month_start(old.occurred_at) not in existing_partitions()
    assert not Event.objects.filter(pk=old.pk).exists()
    maintain_event_partitions(now=now)  # the next tests expect today's window

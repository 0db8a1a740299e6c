"""The walk: due enrollments claimed, moved by the engine, actions written set-based."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.journeys import actions
from campaigns.journeys.entry import run_audience
from campaigns.journeys.walk import process_due
from campaigns.models import CampaignStatus, Enrollment, StepVisit
from channels.models import Delivery, DeliveryStatus
from profiles.models import Profile
from tests.journeys.builders import journey, pro_segment, profiles, send, wait

pytestmark = pytest.mark.django_db


def three_steps(count: int = 5, **fields):
    profiles(count)
    campaign = journey([send("s1", "s2"), wait("s2", "s3", 3600), send("s3")],
                       segment=pro_segment(), **fields)
    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())
    return campaign


def visits() -> set[tuple[str, str]]:
    return set(StepVisit.objects.values_list("step__key", "outcome").distinct())


def test_a_walk_sends_then_waits_then_sends_and_completes(outbox):
    campaign = three_steps(5)

    assert process_due(limit=100) == 5

    assert len(outbox["email"]) == 5
    assert {m.content["subject"] for m in outbox["email"]} == {
        f"s1 for {p.first_name}" for p in Profile.objects.all()}
    assert set(Enrollment.objects.values_list("step_key", "state", "wait_event")) == {
        ("s2", "active", "")}
    assert visits() == {("s1", "next"), ("s2", "")}  # s2: waiting there
    assert process_due(limit=100) == 0  # the wait is not over

    later = timezone.now() + timedelta(hours=1, seconds=1)
    assert process_due(limit=100, now=later) == 5

    assert len(outbox["email"]) == 10
    assert set(Enrollment.objects.values_list("step_key", "state")) == {("s3", "completed")}
    assert visits() == {("s1", "next"), ("s2", "next"), ("s3", "next")}
    assert StepVisit.objects.count() == 15
    deliveries = Delivery.objects.filter(campaign_step__campaign=campaign)
    assert deliveries.count() == 10
    assert set(deliveries.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert deliveries.exclude(enrollment__isnull=False).count() == 0


def test_a_paused_campaign_holds_its_enrollments_where_they_are(outbox):
    campaign = three_steps(3)
    campaign.status = CampaignStatus.PAUSED
    campaign.save(update_fields=["status"])

    assert process_due(limit=100) == 0

    assert outbox["email"] == []
    assert set(Enrollment.objects.values_list("step_key", "state")) == {("s1", "active")}


def test_the_control_group_walks_without_messages(outbox):
    profiles(60)
    campaign = journey([send("s1")], segment=pro_segment(), holdout_percent=50)
    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())

    process_due(limit=100)

    control = Enrollment.objects.filter(is_control=True)
    assert 0 < control.count() < 60
    assert len(outbox["email"]) == 60 - control.count()
    assert not Delivery.objects.filter(enrollment__in=control).exists()
    assert set(StepVisit.objects.filter(enrollment__in=control)
               .values_list("detail", flat=True)) == {"holdout"}


def test_an_attribute_update_step_writes_the_profiles_attribute():
    profiles(3)
    campaign = journey([{"key": "s1", "kind": "update_attribute",
                         "config": {"attribute": "stage", "value": {"level": 2}},
                         "exits": {"next": None}}], segment=pro_segment())
    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())

    process_due(limit=100)

    assert {p.attributes["stage"]["level"] for p in Profile.objects.all()} == {2}
    assert {p.attributes["plan"] for p in Profile.objects.all()} == {"pro"}


def test_a_crash_inside_the_batch_writes_nothing_and_the_retry_does_everything_once(
    outbox, monkeypatch
):
    three_steps(4)
    real = actions._move

    def crash(rows, now):
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(actions, "_move", crash)
    with pytest.raises(RuntimeError):
        process_due(limit=100)
    # Visits and deliveries were written before the crash, in the same transaction: gone.
    assert not StepVisit.objects.exists()
    assert not Delivery.objects.exists()
    assert outbox["email"] == []

    monkeypatch.setattr(actions, "_move", real)
    assert process_due(limit=100) == 4
    assert Delivery.objects.count() == len(outbox["email"]) == 4


def test_a_step_missing_from_the_version_fails_the_enrollment_with_the_reason():
    campaign = three_steps(2)
    Enrollment.objects.update(step_key="gone")

    process_due(limit=100)

    assert set(Enrollment.objects.values_list("state", flat=True)) == {"failed"}
    assert "gone" in Enrollment.objects.first().exit_reason
    assert not Delivery.objects.filter(campaign_step__campaign=campaign).exists()

"""A scheduled campaign, end to end: a real RQ worker with its scheduler, real PostgreSQL,
real Redis, and a real SMTP server receiving the messages."""

import time
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus
from campaigns.services import campaign_save, campaign_schedule
from channels.models import Delivery, DeliveryEvent, DeliveryStatus
from profiles.models import Profile
from profiles.services import segment_save

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MEMBERS = 220
NON_MEMBERS = 60
SUBJECT = "Hello {{ profile.first_name }}"
HTML = (
    "<h1>Hello {{ profile.first_name }}</h1>"
    "<p>You have {{ profile.attributes.points }} points"
    " on your {{ profile.attributes.plan }} plan.</p>"
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'  # required at publish
)


def given_profiles(members: int, non_members: int) -> tuple[list[Profile], list[Profile]]:
    Profile.objects.bulk_create(
        [Profile(external_id=f"m-{i}", email=f"m{i}@example.com", first_name=f"Ann{i}",
                 attributes={"plan": "pro", "points": i * 10}) for i in range(members)]
        + [Profile(external_id=f"n-{i}", email=f"n{i}@example.com", first_name=f"Bob{i}",
                   attributes={"plan": "free", "points": i}) for i in range(non_members)]
    )
    return (list(Profile.objects.filter(attributes__plan="pro")),
            list(Profile.objects.exclude(attributes__plan="pro")))


def given_scheduled_campaign(in_seconds: float) -> Campaign:
    segment = segment_save(
        name="Pro", rules={"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]}
    )
    campaign = campaign_save(name="Pro points", segment=segment, subject=SUBJECT, html_body=HTML)
    return campaign_schedule(campaign=campaign, at=timezone.now() + timedelta(seconds=in_seconds))


def wait_until_completed(campaign: Campaign, worker, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.assert_alive()
        campaign.refresh_from_db()
        if campaign.status == CampaignStatus.COMPLETED:
            return
        time.sleep(0.25)
    counts = dict(Delivery.objects.values_list("status").annotate(n=Count("id")).order_by())
    raise AssertionError(f"campaign {campaign.status} after {timeout} s; deliveries: {counts}")


def delivery_logs() -> dict[int, list[str]]:
    logs: dict[int, list[str]] = defaultdict(list)
    for delivery_id, status in DeliveryEvent.objects.order_by("occurred_at", "id").values_list(
        "delivery_id", "status"
    ):
        logs[delivery_id].append(status)
    return logs


def test_a_scheduled_campaign_sends_one_personalized_email_to_each_member(smtp_sink, rq_worker):
    members, non_members = given_profiles(MEMBERS, NON_MEMBERS)

    campaign = given_scheduled_campaign(in_seconds=3)
    assert campaign.status == CampaignStatus.SCHEDULED
    wait_until_completed(campaign, rq_worker)

    assert campaign.launched_at >= campaign.scheduled_at
    received = smtp_sink.by_recipient()
    assert len(smtp_sink.messages) == MEMBERS
    assert not set(received) & {p.email for p in non_members}
    deliveries = {
        d.profile_id: d for d in Delivery.objects.filter(campaign_step__campaign=campaign)
    }
    logs = delivery_logs()
    for profile in members:
        [message] = received[profile.email]
        points = profile.attributes["points"]
        assert message["Subject"] == f"Hello {profile.first_name}"
        html = message.get_body(("html",)).get_content()
        assert f"<h1>Hello {profile.first_name}</h1>" in html
        assert f"You have {points} points on your pro plan." in html
        text = message.get_body(("plain",)).get_content()
        assert f"You have {points} points" in text
        delivery = deliveries[profile.id]
        assert delivery.status == DeliveryStatus.SENT
        assert delivery.provider_message_id == message["Message-ID"]
        assert logs[delivery.id] == [DeliveryStatus.QUEUED, DeliveryStatus.SENT]
    assert len(deliveries) == MEMBERS


def test_an_unreachable_mail_server_fails_every_delivery_and_completes_the_campaign(
    start_rq_worker, unreachable_smtp_url
):
    # A retryable failure is deferred with backoff until SEND_MAX_ATTEMPTS: one attempt here.
    worker = start_rq_worker(email_url=unreachable_smtp_url,
                             extra_env={"SEND_MAX_ATTEMPTS": "1"})
    members, _ = given_profiles(25, 5)

    campaign = given_scheduled_campaign(in_seconds=1)
    wait_until_completed(campaign, worker)

    deliveries = list(Delivery.objects.filter(campaign_step__campaign=campaign))
    assert sorted(d.profile_id for d in deliveries) == sorted(p.id for p in members)
    logs = delivery_logs()
    for delivery in deliveries:
        assert delivery.status == DeliveryStatus.FAILED
        assert delivery.reason == "provider_error"
        assert delivery.error.startswith("Cannot reach the mail server")
        assert logs[delivery.id] == [DeliveryStatus.QUEUED, DeliveryStatus.FAILED]

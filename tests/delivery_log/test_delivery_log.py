"""The delivery log pages: filters, keyset pages without COUNT(*), the detail with its reason."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels.delivery_log import DeliveryFilters, delivery_log_page
from channels.models import Delivery, DeliveryEvent, DeliveryStatus
from tests.factories import DeliveryFactory, StepFactory


def ids(response):
    return [d.pk for d in response.context["page"].rows]


def test_filters_by_channel_status_and_reason(marketer_client):
    wanted = DeliveryFactory(channel="sms", status="skipped", reason="quiet_hours_deferred")
    DeliveryFactory(channel="sms", status="skipped", reason="suppressed")
    DeliveryFactory(channel="email", status="skipped", reason="quiet_hours_deferred")

    response = marketer_client.get("/deliveries/", {
        "channel": "sms", "status": "skipped", "reason": "quiet_hours_deferred"})

    assert ids(response) == [wanted.pk]


def test_filters_by_campaign(marketer_client):
    step = StepFactory()
    wanted = DeliveryFactory(campaign_step=step)
    DeliveryFactory()

    response = marketer_client.get("/deliveries/", {"campaign": step.campaign_id})

    assert ids(response) == [wanted.pk]


def test_filters_by_exact_address(marketer_client):
    wanted = DeliveryFactory(address="ann@example.com")
    DeliveryFactory(address="joann@example.com")

    response = marketer_client.get("/deliveries/", {"q": "Ann@Example.com"})

    assert ids(response) == [wanted.pk]


def test_filters_by_date_range(marketer_client):
    old = DeliveryFactory()
    recent = DeliveryFactory()
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    since = (timezone.localdate() - timedelta(days=2)).isoformat()

    response = marketer_client.get("/deliveries/", {"from": since,
                                                    "to": timezone.localdate().isoformat()})

    assert ids(response) == [recent.pk]


def test_unusable_filter_values_are_ignored(marketer_client):
    delivery = DeliveryFactory()

    response = marketer_client.get("/deliveries/", {"status": "nope", "from": "yesterday",
                                                    "before": "x"})

    assert response.status_code == 200
    assert ids(response) == [delivery.pk]


@pytest.mark.django_db
def test_keyset_pages_walk_older_then_back_newer():
    step = StepFactory()
    made = sorted(DeliveryFactory(campaign_step=step).pk for _ in range(5))
    filters = DeliveryFilters()

    first = delivery_log_page(filters=filters, size=2)
    second = delivery_log_page(filters=filters, before=first.older, size=2)
    third = delivery_log_page(filters=filters, before=second.older, size=2)
    back = delivery_log_page(filters=filters, after=second.newer, size=2)

    assert [d.pk for d in first.rows] == made[:-3:-1]
    assert first.newer is None
    assert [d.pk for d in second.rows] == made[2:0:-1]
    assert [d.pk for d in third.rows] == made[:1]
    assert third.older is None
    assert [d.pk for d in back.rows] == [d.pk for d in first.rows]
    assert back.newer is None


def test_the_list_never_counts_the_whole_table(marketer_client):
    DeliveryFactory.create_batch(3)

    with CaptureQueriesContext(connection) as queries:
        marketer_client.get("/deliveries/", {"status": "queued"})

    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]


def test_the_detail_shows_the_reason_in_words_and_the_status_log(marketer_client):
    delivery = DeliveryFactory(status=DeliveryStatus.SKIPPED, reason="frequency_capped")
    DeliveryEvent.objects.create(delivery=delivery, status="skipped",
                                 occurred_at=timezone.now(), detail="3 in 7 days")

    response = marketer_client.get(f"/deliveries/{delivery.pk}/")

    body = response.content.decode()
    assert "Frequency cap reached" in body
    assert "3 in 7 days" in body


def test_the_detail_shows_the_email_the_dev_sink_captured(marketer_client, settings, tmp_path):
    from channels.mailsink import capture_message

    settings.MAIL_CAPTURE_DIR = str(tmp_path)
    delivery = DeliveryFactory(status=DeliveryStatus.SENT,
                               provider_message_id="<delivery-42@itinera.example>")
    raw = (b"Message-ID: <delivery-42@itinera.example>\r\nSubject: Spring sale\r\n"
           b"From: shop@itinera.example\r\nTo: ann@example.com\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello Ann, the sale is on.\r\n")
    capture_message(raw, directory=tmp_path, mail_from="shop@itinera.example",
                    rcpt_tos=["ann@example.com"])

    response = marketer_client.get(f"/deliveries/{delivery.pk}/")

    body = response.content.decode()
    assert "Spring sale" in body
    assert "Hello Ann, the sale is on." in body

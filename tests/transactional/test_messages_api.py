"""POST /api/v1/messages and GET /api/v1/deliveries, through DRF with real tokens."""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from channels.jobs import send_deliveries
from channels.models import Delivery, DeliveryStatus, MessageKind, Reason, TemplateRevision
from tests.factories import DeliveryFactory, MessageTemplateFactory, ProfileFactory, StepFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages"


@pytest.fixture
def writer(api_client):
    return api_client("messages:write")


def post(client, body: dict, key: str | None = "key-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(URL, body, format="json", **headers)


def test_a_template_message_to_a_profile_is_queued_with_a_send_job(
    writer, redis_conn, django_capture_on_commit_callbacks
):
    template = MessageTemplateFactory(kind=MessageKind.MARKETING)
    profile = ProfileFactory(external_id="cust-42")

    with django_capture_on_commit_callbacks(execute=True):
        response = post(writer, {"template": template.pk, "profile": "cust-42",
                                 "data": {"order": "A-17"}})

    assert response.status_code == 201
    delivery = Delivery.objects.get()
    assert response.json() == {"id": delivery.pk, "status": "queued"}
    assert (delivery.kind, delivery.channel, delivery.address) == (
        MessageKind.TRANSACTIONAL, "email", profile.email)
    assert delivery.template_revision == TemplateRevision.objects.get(template=template)
    assert delivery.idempotency_key == "key-1"
    [job] = django_rq.get_queue("send").get_jobs()
    assert job.args == ([delivery.pk],)


def test_the_send_job_renders_the_template_with_the_requests_data(writer, outbox):
    template = MessageTemplateFactory()
    ProfileFactory(external_id="cust-7", first_name="Ada")
    delivery_id = post(writer, {"template": template.pk, "profile": "cust-7",
                                "data": {"order": "A-17"}}).json()["id"]

    assert send_deliveries([delivery_id]) == 1

    [message] = outbox["email"]
    assert message.content["subject"] == "Hi Ada"
    assert "order A-17" in message.content["html"]
    assert Delivery.objects.get(pk=delivery_id).status == DeliveryStatus.SENT


def test_inline_sms_content_to_a_bare_address_is_sent(writer, outbox):
    response = post(writer, {"channel": "sms", "address": "+33612345678",
                             "content": {"body": "Your code is {{ data.code }}"},
                             "data": {"code": "123456"}})
    delivery_id = response.json()["id"]

    send_deliveries([delivery_id])

    [message] = outbox["sms"]
    assert (message.address, message.content["body"]) == ("+33612345678", "Your code is 123456")
    delivery = Delivery.objects.get(pk=delivery_id)
    assert (delivery.profile_id, delivery.status) == (None, DeliveryStatus.SENT)


def test_a_transactional_message_to_an_opted_out_profile_is_still_sent(writer, outbox):
    from profiles.consent import ConsentUpdate, consent_set

    profile = ProfileFactory()
    consent_set(profile=profile, update=ConsentUpdate(channel="email", state="opted_out"))
    delivery_id = post(writer, {"template": MessageTemplateFactory().pk,
                                "profile": str(profile.pk)}).json()["id"]

    send_deliveries([delivery_id])

    assert Delivery.objects.get(pk=delivery_id).status == DeliveryStatus.SENT


def test_the_same_key_and_body_answer_the_same_delivery_and_its_status(writer, outbox):
    body = {"template": MessageTemplateFactory().pk, "profile": str(ProfileFactory().pk)}
    first = post(writer, body)
    send_deliveries([first.json()["id"]])

    again = post(writer, body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"id": first.json()["id"], "status": "sent"}
    assert Delivery.objects.count() == 1


def test_another_body_under_a_used_key_is_a_conflict(writer):
    profile = ProfileFactory()
    template = MessageTemplateFactory()
    post(writer, {"template": template.pk, "profile": str(profile.pk), "data": {"a": 1}})

    response = post(writer, {"template": template.pk, "profile": str(profile.pk),
                             "data": {"a": 2}})

    assert response.status_code == 409
    assert Delivery.objects.count() == 1


def test_a_request_without_an_idempotency_key_is_refused(writer):
    response = post(writer, {"template": MessageTemplateFactory().pk,
                             "profile": str(ProfileFactory().pk)}, key=None)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"template": 999_999, "profile": "x"}, "template"),
    ({"channel": "email", "content": {"subject": "Hi"}, "address": "a@example.com"},
     "content.html"),
    ({"channel": "email", "content": {"subject": "{% if %}", "html": "x"},
      "address": "a@example.com"}, "content.subject"),
    ({"channel": "sms", "content": {"body": "Hi"}, "address": "0612345678"}, "address"),
    ({"channel": "sms", "content": {"body": "Hi"}}, "profile"),
    ({"channel": "carrier-pigeon", "content": {"body": "Hi"}, "address": "x"}, "channel"),
    ({"channel": "sms", "content": {"body": "Hi"}, "profile": "nobody"}, "profile"),
])
def test_bad_input_is_refused_with_field_errors(writer, body, field):
    response = post(writer, body)

    assert response.status_code == 400
    assert field in response.json()


def test_a_template_of_another_channel_is_refused(writer):
    template = MessageTemplateFactory(channel="sms", content={"body": "Hi"})

    response = post(writer, {"template": template.pk, "channel": "email",
                             "address": "a@example.com"})

    assert response.status_code == 400
    assert "channel" in response.json()


def test_posting_needs_the_messages_write_scope(api_client):
    response = post(api_client("deliveries:read"), {"channel": "sms", "address": "+33612345678",
                                                    "content": {"body": "Hi"}})

    assert response.status_code == 403


# --- GET /api/v1/deliveries -----------------------------------------------------------------


@pytest.fixture
def reader(api_client):
    return api_client("deliveries:read")


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_deliveries_are_filtered_by_channel_status_reason_campaign_and_profile(reader):
    step = StepFactory()
    ada = ProfileFactory(external_id="ada")
    sent = DeliveryFactory(campaign_step=step, profile=ada, status=DeliveryStatus.SENT)
    skipped = DeliveryFactory(campaign_step=step, status=DeliveryStatus.SKIPPED,
                              reason=Reason.UNSUBSCRIBED)
    sms = DeliveryFactory(campaign_step=None, profile=ada, channel="sms",
                          address="+33612345678")

    assert ids(reader.get("/api/v1/deliveries", {"channel": "sms"})) == [sms.pk]
    assert ids(reader.get("/api/v1/deliveries", {"status": "sent"})) == [sent.pk]
    assert ids(reader.get("/api/v1/deliveries", {"reason": "unsubscribed"})) == [skipped.pk]
    assert ids(reader.get("/api/v1/deliveries", {"campaign": step.campaign_id})) == [
        skipped.pk, sent.pk]
    assert ids(reader.get("/api/v1/deliveries", {"profile": "ada"})) == [sms.pk, sent.pk]
    row = reader.get("/api/v1/deliveries", {"reason": "unsubscribed"}).json()["results"][0]
    assert (row["campaign"], row["status"], row["reason"]) == (
        step.campaign_id, "skipped", "unsubscribed")


def test_deliveries_are_filtered_by_creation_time(reader):
    old, new = DeliveryFactory(), DeliveryFactory()
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(days=1)).isoformat()

    assert ids(reader.get("/api/v1/deliveries", {"since": since})) == [new.pk]
    assert ids(reader.get("/api/v1/deliveries", {"until": since})) == [old.pk]


def test_deliveries_come_in_cursor_pages(reader):
    rows = [DeliveryFactory() for _ in range(3)]

    first = reader.get("/api/v1/deliveries", {"page_size": 2}).json()
    second = reader.get(first["next"]).json()

    assert [r["id"] for r in first["results"] + second["results"]] == [d.pk for d in rows[::-1]]


@pytest.mark.parametrize("params", [{"status": "lost"}, {"since": "yesterday"},
                                    {"profile": "nobody"}, {"campaign": "x"}])
def test_unusable_filters_are_refused(reader, params):
    response = reader.get("/api/v1/deliveries", params)

    assert response.status_code == 400
    assert set(params) <= set(response.json())

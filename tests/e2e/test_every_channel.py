"""A marketer sends email, SMS, push, a direct-mail file and a webhook from the pages, and a
real worker delivers each to a real local endpoint."""

import csv
import hashlib
import hmac
import time
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus
from channels.message_templates import template_save
from channels.models import Delivery, DeliveryStatus, MailExport
from profiles.models import PushSubscription
from profiles.roles import ensure_marketer_group
from profiles.services import segment_save
from tests.channel_backends.conftest import ProviderServer
from tests.factories import ProfileFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MEMBERS = 3
ADDRESS = {"address_line1": "1 Rue de la Paix", "postal_code": "75002", "city": "Paris",
           "country": "FR"}


@pytest.fixture
def provider():
    server = ProviderServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def _audience():
    for i in range(MEMBERS):
        profile = ProfileFactory(first_name=f"Ada{i}", last_name="Lovelace",
                                 phone=f"+3361234567{i}",
                                 attributes={"plan": "pro", **ADDRESS})
        PushSubscription.objects.create(profile=profile, kind="fcm", platform="android",
                                        token=f"fcm-token-{i}")
    ProfileFactory(attributes={"plan": "free"})  # not in the segment
    return segment_save(name="Pro", rules={"all": [
        {"field": "attributes.plan", "op": "equals", "value": "pro"}]})


def _templates(provider):
    email = template_save(name="Spring email", channel="email", content={
        "subject": "Hello {{ profile.first_name }}",
        "html": '<p>Hi {{ profile.first_name }}</p><a href="{{ unsubscribe_url }}">Leave</a>'})
    sms = template_save(name="Code SMS", channel="sms", kind="transactional",
                        content={"body": "Hi {{ profile.first_name }}, code 42"})
    push = template_save(name="Push", channel="push", kind="transactional",
                         content={"title": "Hi {{ profile.first_name }}", "body": "New gear"})
    mail = template_save(name="Letter", channel="mail", content={
        "letter": "Dear {{ profile.first_name }}, here is your catalogue."})
    hook = template_save(name="CRM hook", channel="webhook", kind="transactional", content={
        "url": provider.url("/hook"), "payload": '{"first_name": "{{ profile.first_name }}"}'})
    return [email, sms, push, mail, hook]


def _create_and_schedule(client, segment, template) -> int:
    client.post(reverse("campaign_create"), {
        "name": template.name, "description": "", "segment": segment.pk,
        "template": template.pk, "subject": "", "html_body": "", "text_body": ""})
    campaign = Campaign.objects.get(name=template.name)
    now = timezone.localtime(timezone.now())
    client.post(reverse("campaign_schedule", args=[campaign.pk]),
                {"send_at": now.strftime("%Y-%m-%dT%H:%M")})
    return campaign.pk


def test_every_channel_reaches_its_local_endpoint(client, provider, smtp_sink, start_rq_worker,
                                                  tmp_path):
    segment = _audience()
    templates = _templates(provider)
    marketer = UserFactory(username="mia")
    marketer.groups.add(ensure_marketer_group())
    client.force_login(marketer)
    campaign_ids = [_create_and_schedule(client, segment, t) for t in templates]
    worker = start_rq_worker(email_url=smtp_sink.url, extra_env={
        "SMS_PROVIDER_URL": provider.url("/sms"), "SMS_PROVIDER_TOKEN": "tok",
        "FCM_BASE_URL": provider.url(""), "FCM_PROJECT_ID": "demo", "FCM_ACCESS_TOKEN": "t",
        "WEBHOOK_SIGNING_SECRET": "s3cret", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "MEDIA_ROOT": str(tmp_path)})

    deadline = time.monotonic() + 90
    while Campaign.objects.filter(pk__in=campaign_ids).exclude(
            status=CampaignStatus.COMPLETED).exists():
        worker.assert_alive()
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.5)

    # Email: one per member, with the one-click unsubscribe headers
    assert len(smtp_sink.messages) == MEMBERS
    email = smtp_sink.messages[0].parsed()
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # SMS, push and webhook: one request each per member at the local provider
    paths = [r.path for r in provider.requests]
    assert paths.count("/sms") == MEMBERS
    assert paths.count("/v1/projects/demo/messages:send") == MEMBERS
    hooks = [r for r in provider.requests if r.path == "/hook"]
    assert len(hooks) == MEMBERS
    signed = f"{hooks[0].headers['x-itinera-timestamp']}.".encode() + hooks[0].body
    expected = hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    assert hooks[0].headers["x-itinera-signature"] == f"sha256={expected}"
    # Direct mail: one file with a row per member; deliveries exported
    export = MailExport.objects.get()
    with (Path(tmp_path) / export.file.name).open(newline="") as handle:  # the worker's media
        rows = list(csv.DictReader(handle))
    assert len(rows) == MEMBERS
    statuses = set(Delivery.objects.values_list("channel", "status"))
    assert statuses == {("email", DeliveryStatus.SENT), ("sms", DeliveryStatus.SENT),
                        ("push", DeliveryStatus.SENT), ("mail", DeliveryStatus.EXPORTED),
                        ("webhook", DeliveryStatus.SENT)}

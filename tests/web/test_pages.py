"""The marketer's pages: login everywhere, permissions, forms with inline errors."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus
from tests.factories import (
    CampaignFactory,
    ProfileFactory,
    SegmentFactory,
    StepFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PAGES = ["dashboard", "profile_list", "segment_list", "segment_create", "campaign_list",
         "campaign_create", "delivery_list"]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_needs_a_login(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", PAGES)
def test_marketer_sees_every_page(marketer_client, name):
    response = marketer_client.get(reverse(name))

    assert response.status_code == 200
    assert b"<nav" in response.content


def test_a_user_outside_the_marketers_group_is_refused(client):
    client.force_login(UserFactory(username="nobody"))

    assert client.get(reverse("campaign_list")).status_code == 403


def test_admin_link_shows_only_for_staff(marketer_client, client, admin_user_):
    assert b'href="/admin/"' not in marketer_client.get(reverse("dashboard")).content
    client.force_login(admin_user_)
    assert b'href="/admin/"' in client.get(reverse("dashboard")).content


def test_profile_search_finds_by_email(marketer_client):
    ProfileFactory(email="ada@example.com", first_name="Ada")
    ProfileFactory(email="bob@example.com", first_name="Bob")

    response = marketer_client.get(reverse("profile_list"), {"q": "ada@"})

    assert b"ada@example.com" in response.content
    assert b"bob@example.com" not in response.content


# The segment builder's own tests are in tests/segments_ui.


def _campaign_post(segment, **overrides):
    data = {
        "name": "Spring", "description": "", "segment": segment.pk,
        "subject": "Hi {{ profile.first_name }}",
        "html_body": "<p>Hello {{ profile.first_name | default: 'there' }}</p>", "text_body": "",
    }
    data.update(overrides)
    return data


def test_a_liquid_syntax_error_is_refused_with_its_line(marketer_client):
    segment = SegmentFactory()

    response = marketer_client.post(reverse("campaign_create"), _campaign_post(
        segment, html_body="<p>Hello</p>\n<p>{% if profile.first_name %}</p>\n"
    ))

    assert response.status_code == 200
    assert not Campaign.objects.exists()
    assert b"field-error" in response.content
    assert b"Line 3" in response.content or b"Line 2" in response.content


def test_creating_a_campaign_saves_a_draft_with_its_email(marketer_client):
    segment = SegmentFactory()

    response = marketer_client.post(reverse("campaign_create"), _campaign_post(segment))

    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.steps.get().subject == "Hi {{ profile.first_name }}"


def test_preview_renders_for_the_chosen_profile_with_escaping(marketer_client):
    step = StepFactory()
    ProfileFactory(external_id="vip-1", first_name="<b>Zoé</b>", attributes={"plan": "pro"})

    response = marketer_client.get(
        reverse("campaign_preview", args=[step.campaign_id]), {"profile": "vip-1"}
    )

    body = response.content.decode()
    assert "Hello &lt;b&gt;Zoé&lt;/b&gt;" in body.replace("&amp;", "&")
    assert "<b>Zoé</b>" not in body
    assert 'sandbox=""' in body


def test_scheduling_moves_a_draft_to_scheduled(marketer_client, redis_conn):
    from campaigns.services import campaign_save

    # A marketing email needs its unsubscribe link to be published (issue #6 control rules).
    campaign = campaign_save(name="Spring", segment=SegmentFactory(), subject="Hi",
                             html_body='<p>Hi</p><a href="{{ unsubscribe_url }}">Stop</a>')
    at = timezone.localtime(timezone.now() + timedelta(hours=1))

    response = marketer_client.post(
        reverse("campaign_schedule", args=[campaign.pk]),
        {"send_at": at.strftime("%Y-%m-%dT%H:%M")},
        follow=True,
    )

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert b"Campaign scheduled." in response.content


def test_scheduling_an_email_without_unsubscribe_link_names_the_step(marketer_client,
                                                                     redis_conn):
    from campaigns.services import campaign_save

    campaign = campaign_save(name="Spring", segment=SegmentFactory(), subject="Hi",
                             html_body="<p>Hi</p>")
    at = timezone.localtime(timezone.now() + timedelta(hours=1))

    response = marketer_client.post(reverse("campaign_schedule", args=[campaign.pk]),
                                    {"send_at": at.strftime("%Y-%m-%dT%H:%M")}, follow=True)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert "Step s1: A marketing email must contain an unsubscribe link" in (
        response.content.decode().replace("&#x27;", "'"))


def test_scheduling_in_the_past_is_refused(marketer_client, redis_conn):
    step = StepFactory()

    response = marketer_client.post(
        reverse("campaign_schedule", args=[step.campaign_id]),
        {"send_at": "2020-01-01T10:00"}, follow=True,
    )

    step.campaign.refresh_from_db()
    assert step.campaign.status == CampaignStatus.DRAFT
    assert b"Choose a time in the future" in response.content


def test_a_campaign_without_segment_cannot_be_scheduled(marketer_client, redis_conn):
    step = StepFactory(campaign=CampaignFactory(segment=None))
    at = timezone.localtime(timezone.now() + timedelta(hours=1))

    response = marketer_client.post(
        reverse("campaign_schedule", args=[step.campaign_id]),
        {"send_at": at.strftime("%Y-%m-%dT%H:%M")}, follow=True,
    )

    assert b"Choose an audience segment" in response.content


def test_a_delivery_of_an_erased_profile_still_shows(marketer_client):
    from channels.models import Delivery

    step = StepFactory()
    delivery = Delivery.objects.create(campaign_step=step, profile=None, address="",
                                       status="sent")

    campaign_page = marketer_client.get(reverse("campaign_detail", args=[step.campaign_id]))
    delivery_page = marketer_client.get(reverse("delivery_detail", args=[delivery.pk]))

    assert b"erased profile" in campaign_page.content
    assert b"erased profile" in delivery_page.content


def test_a_campaign_can_send_a_saved_sms_template(marketer_client):
    from channels.message_templates import template_save

    segment = SegmentFactory()
    template = template_save(name="Flash sale SMS", channel="sms", kind="transactional",
                             content={"body": "Hi {{ profile.first_name }}, 20% off today"})

    response = marketer_client.post(reverse("campaign_create"), {
        "name": "Flash", "description": "", "segment": segment.pk, "template": template.pk,
        "subject": "", "html_body": "", "text_body": "",
    })

    step = Campaign.objects.get().steps.get()
    assert response.status_code == 302
    assert (step.channel, step.template) == ("sms", template)
    detail = marketer_client.get(reverse("campaign_detail", args=[step.campaign_id]))
    assert b"Flash sale SMS" in detail.content


def test_without_a_template_the_inline_email_is_required(marketer_client):
    segment = SegmentFactory()

    response = marketer_client.post(reverse("campaign_create"), {
        "name": "Empty", "description": "", "segment": segment.pk, "template": "",
        "subject": "", "html_body": "", "text_body": "",
    })

    assert response.status_code == 200
    assert b"A subject is required." in response.content
    assert not Campaign.objects.exists()


def test_preview_of_an_sms_campaign_shows_its_text(marketer_client):
    from campaigns.services import campaign_save
    from channels.message_templates import template_save

    template = template_save(name="SMS", channel="sms", kind="transactional",
                             content={"body": "Hi {{ profile.first_name }}!"})
    campaign = campaign_save(name="Texting", segment=SegmentFactory(), template=template)
    ProfileFactory(external_id="sam", first_name="Sam", attributes={"plan": "pro"})

    response = marketer_client.get(reverse("campaign_preview", args=[campaign.pk]),
                                   {"profile": "sam"})

    assert "Hi Sam!" in response.content.decode()

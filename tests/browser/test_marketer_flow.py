"""A marketer logs in, builds a segment, writes a campaign, previews and schedules it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignStatus
from profiles.models import Segment
from tests.browser.conftest import ARTIFACTS
from tests.factories import AttributeDefinitionFactory, ProfileFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def marketer_login(marketers_group):
    user = UserFactory(username="maria")
    user.groups.add(marketers_group)
    return user


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/campaigns/")
    assert "/login/" in page.url  # every page needs a login first
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/campaigns/")


def test_marketer_builds_a_segment_and_schedules_a_campaign(
    page, live_server, marketer_login, redis_conn, screenshot
):
    AttributeDefinitionFactory(key="plan", label="Plan", type="string")
    ProfileFactory.create_batch(4, attributes={"plan": "pro"}, first_name="Léa")
    ProfileFactory.create_batch(2, attributes={"plan": "free"})
    log_in(page, live_server, "maria")

    # A segment, counted live before it is saved (tests/browser/test_segment_builder.py
    # builds a nested one).
    page.click("text=Segments")
    page.click("text=New segment")
    page.wait_for_url(f"{live_server.url}/segments/new/")
    page.wait_for_load_state()  # htmx listens from here on
    page.fill("#id_name", "Pro customers")
    page.fill('[name="r.0.value"]', "pro")
    expect(page.locator("#live-count-n")).to_have_attribute("data-count", "4")
    page.click("#save-segment")
    assert page.inner_text("#segment-count") == "4"
    screenshot("segment")

    # A campaign whose first draft has a Liquid error, shown next to the field.
    page.click("text=Campaign for this segment")
    page.fill("#id_name", "Spring offer")
    page.fill("#id_subject", "{{ profile.first_name }}, spring is here")
    page.fill("#id_html_body", "<p>Hello {{ profile.first_name }}</p>\n{% if %}")
    page.click("text=Save draft")
    assert "Line 2" in page.inner_text("#id_html_body-error")
    # A marketing email is refused without its unsubscribe link (issue #6 control rules).
    page.fill("#id_html_body", "<h1>Hello {{ profile.first_name | default: 'there' }}</h1>"
                               '<a href="{{ unsubscribe_url }}">Unsubscribe</a>')
    page.click("text=Save draft")
    assert "saved as a draft" in page.inner_text(".messages")

    # Preview renders the email for a real member.
    page.click("text=Preview")
    assert page.inner_text("#preview-subject") == "Léa, spring is here"
    frame = page.frame_locator("#preview-html")
    assert frame.locator("h1").inner_text() == "Hello Léa"
    screenshot("preview")

    # Schedule it an hour ahead.
    page.click("text=Back to campaign")
    send_at = timezone.localtime(timezone.now() + timedelta(hours=1))
    page.fill("#id_send_at", send_at.strftime("%Y-%m-%dT%H:%M"))
    page.click("#schedule-form button[type=submit]")
    assert "Campaign scheduled." in page.inner_text(".messages")
    screenshot("scheduled")

    campaign = Campaign.objects.get(name="Spring offer")
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.segment == Segment.objects.get(name="Pro customers")
    assert abs(campaign.scheduled_at - send_at) < timedelta(minutes=1)


def test_pages_fit_a_phone_screen(browser, live_server, marketer_login):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        log_in(page, live_server, "maria")
        for path in ("/", "/campaigns/", "/segments/new/", "/profiles/"):
            page.goto(f"{live_server.url}{path}")
            overflow = page.evaluate("document.body.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "segment-form-phone.png"), full_page=True)
    finally:
        context.close()

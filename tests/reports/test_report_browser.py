"""After a real send (RQ worker process, SMTP sink), a marketer reads the dashboard and the
campaign report in a browser; every number shown is checked against the delivery log.

Screenshots: test-artifacts/reports-dashboard.png, reports-campaign.png,
reports-delivery-log.png.
"""

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus
from campaigns.services import campaign_save, campaign_schedule
from channels.feedback import FeedbackEvent, feedback_apply_one
from channels.models import Delivery, DeliveryEvent, DeliveryStatus
from channels.tracking import sign_token
from profiles.models import Profile
from profiles.services import segment_save
from tests.browser.conftest import browser, page, screenshot  # noqa: F401
from tests.e2e.conftest import rq_worker, smtp_sink, start_rq_worker  # noqa: F401
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def given_a_sent_campaign(worker) -> Campaign:
    Profile.objects.bulk_create(
        [Profile(external_id=f"r-{i}", email=f"r{i}@example.com" if i % 10 else "",
                 first_name=f"Ann{i}", attributes={"plan": "pro"}) for i in range(30)])
    segment = segment_save(name="Pro", rules={
        "all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]})
    campaign = campaign_save(name="Spring report", segment=segment, subject="Hi",
                             html_body="<p>Hello {{ profile.first_name }}</p>"
                                       "<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>")
    campaign_schedule(campaign=campaign, at=timezone.now() + timedelta(seconds=1))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        worker.assert_alive()
        campaign.refresh_from_db()
        if campaign.status == CampaignStatus.COMPLETED:
            return campaign
        time.sleep(0.25)
    raise AssertionError(f"campaign still {campaign.status}")


def when_recipients_engage(tab, live_server, campaign: Campaign) -> None:
    sent = list(Delivery.objects.filter(campaign_step__campaign=campaign,
                                        status=DeliveryStatus.SENT).order_by("id"))
    for delivery in sent[:9]:  # the open pixel, over HTTP
        path = reverse("track_open", args=[sign_token("open", delivery.pk)])
        assert tab.request.get(live_server.url + path).ok
    now = timezone.now()
    for delivery, kind in ((sent[-1], "bounced"), (sent[-2], "complained")):
        feedback_apply_one(provider="sink", event=FeedbackEvent(
            message_id=f"<delivery-{delivery.pk}@example.com>", type=kind, occurred_at=now,
            bounce_type="hard" if kind == "bounced" else ""))


def log_in(tab, live_server) -> None:
    tab.goto(f"{live_server.url}/")
    tab.fill("#id_username", "rita")
    tab.fill("#id_password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live_server.url}/")


def log_count(campaign: Campaign, status: str) -> int:
    return (DeliveryEvent.objects.filter(delivery__campaign_step__campaign=campaign,
                                         status=status)
            .values("delivery").distinct().count())


def test_dashboard_and_report_agree_with_the_delivery_log(
        page, live_server, rq_worker, smtp_sink, screenshot, marketers_group):  # noqa: F811
    user = UserFactory(username="rita")
    user.groups.add(marketers_group)
    campaign = given_a_sent_campaign(rq_worker)
    when_recipients_engage(page, live_server, campaign)
    sent, opened = log_count(campaign, "sent"), log_count(campaign, "opened")
    skipped = Delivery.objects.filter(campaign_step__campaign=campaign, status="skipped").count()
    assert (sent, opened, skipped) == (27, 9, 3) and len(smtp_sink.messages) == 27

    log_in(page, live_server)
    assert page.locator(".messages").count() == 0  # no stray flash messages
    email = page.locator('#messages-by-channel tr[data-channel="email"]')
    assert email.locator(".n30").inner_text() == str(sent)
    assert email.locator(".n7").inner_text() == str(sent)
    health = page.locator("#deliverability tr").nth(1)
    assert health.locator("td").nth(1).inner_text() == str(sent)
    assert health.locator("[data-flag]").nth(1).get_attribute("data-flag") == "alarm"  # 1/27
    page.wait_for_function("window.Chart !== undefined")
    screenshot("reports-dashboard")

    page.goto(f"{live_server.url}{reverse('campaign_detail', args=[campaign.pk])}")
    page.click(f'.actions a[href="{reverse("campaign_report", args=[campaign.pk])}"]')
    page.wait_for_url(f"**/campaigns/{campaign.pk}/report/")
    for name, expected in (("sent", sent), ("opened", opened), ("skipped", skipped),
                           ("entered", 30)):
        assert page.inner_text(f'#totals [data-total="{name}"]') == str(expected), name
    assert page.inner_text('#skips tr[data-reason="missing_address"] td:nth-child(2)') == "3"
    page.wait_for_function("document.querySelector('#report-chart').width > 0")
    screenshot("reports-campaign")

    page.click("#skips a")
    rows = page.locator("table tbody tr")
    assert rows.count() == skipped
    screenshot("reports-delivery-log")

"""The dashboard, the CSV exports (with formula neutralizing) and the report API."""

import csv
import io

import pytest
from django.urls import reverse

from campaigns.reports.dashboard import flag
from campaigns.reports.exports import neutralized
from channels.models import Delivery
from tests.factories import DeliveryFactory, StepFactory
from tests.reports.mix import send_and_engage

pytestmark = pytest.mark.django_db


def streamed_csv(response) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_complaint_and_bounce_flags_follow_the_bulk_sender_thresholds():
    assert flag(0.0009, 0.001, 0.003) == "ok"
    assert flag(0.001, 0.001, 0.003) == "warn"
    assert flag(0.003, 0.001, 0.003) == "alarm"


def test_the_dashboard_shows_messages_by_channel_and_domain_health(outbox, marketer_client):
    mix = send_and_engage()

    html = marketer_client.get(reverse("dashboard")).content.decode()

    assert 'data-last-30="6"' in html  # the proof is not counted
    assert 'data-domain="mail.example.org"' in html
    assert 'data-flag="alarm"' in html  # 1 complaint in 6 sent
    assert mix.step.campaign.name not in html or "Running and scheduled" in html


@pytest.mark.parametrize("payload", ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)",
                                     "\tx", "\rx"])
def test_neutralized_prefixes_formula_starts(payload):
    assert neutralized(payload) == "'" + payload
    assert neutralized("plain") == "plain"
    assert neutralized(-2) == -2  # a number stays a number


def test_the_delivery_log_csv_neutralizes_injected_cells_and_keeps_the_filters(
        marketer_client):
    step = StepFactory(key="s1")
    evil = DeliveryFactory(campaign_step=step, status="failed",
                           error='=HYPERLINK("http://evil.example","click")')
    DeliveryFactory(campaign_step=step, status="sent")

    rows = streamed_csv(marketer_client.get(reverse("delivery_log_csv"), {"status": "failed"}))

    header, *data = rows
    assert len(data) == 1 and data[0][0] == str(evil.pk)
    error = data[0][header.index("error")]
    assert error.startswith("'=HYPERLINK")


def test_the_report_csv_is_streamed_and_neutralized(outbox, marketer_client):
    mix = send_and_engage()
    mix.step.name = "=cmd|' /C calc'!A0"
    mix.step.save(update_fields=["name"])

    rows = streamed_csv(marketer_client.get(reverse("campaign_report_csv",
                                                    args=[mix.step.campaign_id])))

    step_row = next(r for r in rows if r and r[0] == mix.step.key)
    assert step_row[1] == "'=cmd|' /C calc'!A0"
    assert step_row[rows[0].index("sent")] == "6"


def test_the_api_serves_the_report_and_stats_with_the_campaigns_scope(outbox, client_with):
    mix = send_and_engage()
    reader, stranger = client_with("campaigns:read"), client_with("profiles:read")
    url = f"/api/v1/campaigns/{mix.step.campaign_id}/report"

    report = reader.get(url)
    stats = reader.get("/api/v1/stats")

    assert report.status_code == 200
    step = next(s for s in report.json()["steps"] if s["key"] == mix.step.key)
    assert step["sent"] == Delivery.objects.filter(campaign_step=mix.step,
                                                   status__in=["sent", "delivered", "opened",
                                                               "clicked", "bounced",
                                                               "complained",
                                                               "unsubscribed"]).count()
    assert stats.status_code == 200
    channels = stats.json()["messages_by_channel"]["channels"]
    email = next(c for c in channels if c["channel"] == "email")
    assert email["last_7_days"] == 6
    assert stranger.get(url).status_code == 403
    assert reader.get("/api/v1/campaigns/999999/report").status_code == 404


def test_the_schema_lists_the_report_routes(marketer_client):
    document = marketer_client.get("/api/schema/", {"format": "json"}).json()

    assert "/api/v1/campaigns/{id}/report/" in document["paths"]
    assert document["paths"]["/api/v1/stats/"]["get"]["tags"] == ["reports"]


def test_the_delivery_log_page_links_its_filtered_csv(marketer_client):
    html = marketer_client.get(reverse("delivery_list"), {"status": "failed"}).content.decode()

    assert f'href="{reverse("delivery_log_csv")}?status=failed"' in html

"""Campaigns through the integrator API: state, segment and delivery counts (the journey
endpoints are tested in tests/journeys_api)."""

import pytest

from campaigns.models import Campaign, CampaignStatus
from channels.models import DeliveryStatus
from tests.factories import DeliveryFactory, StepFactory

CAMPAIGNS = "/api/v1/campaigns/"


@pytest.fixture
def reader(api_client):
    return api_client("campaigns:read")


@pytest.fixture
def sent_campaign(db):
    """A running campaign with 2 sent, 1 failed and 1 queued deliveries."""
    step = StepFactory(
        subject="Spring sale", campaign__status=CampaignStatus.RUNNING,
        campaign__segment__name="Pro users",
    )
    for status in [DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.FAILED,
                   DeliveryStatus.QUEUED]:
        DeliveryFactory(campaign_step=step, status=status)
    DeliveryFactory(status=DeliveryStatus.SENT)  # another campaign's
    return step.campaign


@pytest.mark.django_db
def test_campaign_detail_returns_its_delivery_counts(reader, sent_campaign):
    response = reader.get(f"{CAMPAIGNS}{sent_campaign.pk}/")

    assert response.status_code == 200
    counts = response.json()["delivery_counts"]
    assert {k: counts[k] for k in ("queued", "sent", "failed", "total")} == {
        "queued": 1, "sent": 2, "failed": 1, "total": 4,
    }
    assert sum(n for status, n in counts.items() if status != "total") == 4


@pytest.mark.django_db
def test_campaign_detail_shows_its_status_and_segment(reader, sent_campaign):
    body = reader.get(f"{CAMPAIGNS}{sent_campaign.pk}/").json()

    assert body["status"] == "running"
    assert body["segment"] == sent_campaign.segment_id
    assert {"scheduled_at", "launched_at", "completed_at"} <= body.keys()


@pytest.mark.django_db
def test_the_list_counts_deliveries_like_the_detail(reader, sent_campaign):
    detail = reader.get(f"{CAMPAIGNS}{sent_campaign.pk}/").json()

    listed = reader.get(CAMPAIGNS).json()["results"]

    by_id = {c["id"]: c for c in listed}
    assert by_id[sent_campaign.pk]["delivery_counts"] == detail["delivery_counts"]
    assert len(listed) == 2


@pytest.mark.django_db
def test_a_campaign_without_steps_or_deliveries_has_zero_counts(reader):
    campaign = StepFactory().campaign
    campaign.steps.all().delete()

    body = reader.get(f"{CAMPAIGNS}{campaign.pk}/").json()

    assert body["graph"] == {"start": "", "steps": []}
    assert body["delivery_counts"]["total"] == 0


@pytest.mark.django_db
def test_campaigns_need_the_campaigns_scope(api_client, sent_campaign):
    response = api_client("profiles:read").get(f"{CAMPAIGNS}{sent_campaign.pk}/")

    assert response.status_code == 403


@pytest.mark.django_db
def test_a_read_token_cannot_create_campaigns(api_client):
    client = api_client("campaigns:read")

    response = client.post(CAMPAIGNS, {"name": "New"}, format="json")

    assert response.status_code == 403
    assert not Campaign.objects.exists()

"""The campaign admin: steps added to a draft join its draft version; status actions go
through the lifecycle."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignStatus
from tests.factories import CampaignFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_a_step_added_in_the_admin_joins_the_draft_version(admin_client_):
    segment = CampaignFactory().segment

    admin_client_.post(reverse("admin:campaigns_campaign_add"), {
        "name": "Welcome", "segment": segment.pk,
        "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0",
        "steps-0-position": "1", "steps-0-kind": "send_email",
        "steps-0-subject": "Hi", "steps-0-html_body": "<p>Hello</p>",
    })

    campaign = Campaign.objects.get(name="Welcome")
    version = campaign.versions.get()
    assert (version.number, version.is_published, version.start_key) == (1, False, "s1")
    assert list(version.steps.values_list("key", "exits")) == [("s1", {"next": None})]


@pytest.mark.parametrize("action, before, after", [
    ("pause_campaigns", CampaignStatus.RUNNING, CampaignStatus.PAUSED),
    ("archive_campaigns", CampaignStatus.PAUSED, CampaignStatus.ARCHIVED),
    ("archive_campaigns", CampaignStatus.RUNNING, CampaignStatus.RUNNING),  # refused
])
def test_status_actions_use_the_lifecycle(admin_client_, action, before, after):
    campaign = CampaignFactory(status=before, launched_at="2030-01-01T00:00Z")

    admin_client_.post(reverse("admin:campaigns_campaign_changelist"), {
        "action": action, "_selected_action": [campaign.pk],
    })

    campaign.refresh_from_db()
    assert campaign.status == after

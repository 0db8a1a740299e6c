"""The simple campaign form (one message) on top of versions: it edits the draft version's
first step, and its preview and data read the version being edited."""

import pytest

from campaigns.models import CampaignStatus
from campaigns.services import (
    CampaignError,
    campaign_data,
    campaign_preview,
    campaign_problems,
    campaign_save,
)
from campaigns.versions import draft_version, graph_save
from tests.factories import ProfileFactory, SegmentFactory, StepFactory
from tests.lifecycle.builders import MARKETING_HTML, email_template, six_step_json

pytestmark = pytest.mark.django_db


def test_save_makes_version_1_with_its_message_as_the_start_step():
    campaign = campaign_save(name="Hello", segment=SegmentFactory(), subject="Hi",
                             html_body=MARKETING_HTML)

    version = campaign.versions.get()
    assert (version.number, version.is_published, version.start_key) == (1, False, "s1")
    step = version.steps.get()
    assert (step.key, step.kind, step.subject, step.exits) == ("s1", "send_email", "Hi", {})


def test_saving_again_edits_the_same_step_and_can_switch_to_a_template():
    campaign = campaign_save(name="Hello", subject="Hi", html_body=MARKETING_HTML)
    first = campaign.versions.get().steps.get().pk
    template = email_template()

    campaign_save(campaign=campaign, name="Hello", template=template)

    step = campaign.versions.get().steps.get()
    assert (step.pk, step.kind, step.template, step.subject) == (
        first, "send_message", template, ""
    )
    assert campaign_data(campaign)["template"] == template


def test_the_simple_form_refuses_a_multi_step_journey_starting_elsewhere():
    campaign = campaign_save(name="Journey", subject="Hi", html_body=MARKETING_HTML)
    data = six_step_json()
    data["start"] = "s2"
    data["steps"] = data["steps"][1:]
    graph_save(draft_version(campaign), data)

    with pytest.raises(CampaignError, match="designer"):
        campaign_save(campaign=campaign, name="Journey", subject="Hi", html_body=MARKETING_HTML)


def test_preview_and_data_read_the_start_message_of_the_version_being_edited():
    campaign = campaign_save(name="Hello", subject="Hi {{ profile.first_name }}",
                             html_body=MARKETING_HTML)
    profile = ProfileFactory(first_name="Zoé")

    content = campaign_preview(campaign=campaign, profile=profile)

    assert content.subject == "Hi Zoé"
    assert "/u/preview" in content.html  # the preview's unsubscribe link
    assert campaign_data(campaign)["subject"] == "Hi {{ profile.first_name }}"


def test_preview_of_a_named_message_step():
    campaign = campaign_save(name="Journey", subject="Hi", html_body=MARKETING_HTML)
    graph_save(draft_version(campaign), six_step_json())

    content = campaign_preview(campaign=campaign, profile=ProfileFactory(first_name="Ann"),
                               step_key="s1")

    assert content.subject == "Hi Ann"
    with pytest.raises(CampaignError):
        campaign_preview(campaign=campaign, profile=ProfileFactory(), step_key="s2")  # a wait


def test_a_campaign_made_before_versions_is_previewed_and_validated_from_its_steps():
    step = StepFactory(html_body=MARKETING_HTML)

    assert campaign_preview(campaign=step.campaign, profile=ProfileFactory()).subject
    problems = campaign_problems(step.campaign)

    assert problems == []  # no time: it would be read when published
    assert step.campaign.status == CampaignStatus.DRAFT
    assert step.campaign.versions.get().steps.get() == step  # adopted as version 1

"""Versions: the draft being edited, graphs saved from JSON, enrollments moved on."""

import pytest
from django.utils import timezone

from campaigns.graph import graph_to_json
from campaigns.models import CampaignStatus, CampaignVersion, Enrollment, Step
from campaigns.services import CampaignError
from campaigns.versions import draft_version, graph_of, graph_save, move_enrollments
from tests.factories import CampaignFactory, ProfileFactory
from tests.lifecycle.builders import six_step_json

pytestmark = pytest.mark.django_db


def published(campaign, data, number=1) -> CampaignVersion:
    version = draft_version(campaign)
    assert version.number == number
    graph_save(version, data)
    CampaignVersion.objects.filter(pk=version.pk).update(published_at=timezone.now())
    campaign.current_version = version
    campaign.save(update_fields=["current_version"])
    version.refresh_from_db()
    return version


def test_a_new_campaign_gets_an_empty_version_1_once():
    campaign = CampaignFactory()

    draft = draft_version(campaign)

    assert (draft.number, draft.is_published, draft.steps.count()) == (1, False, 0)
    assert draft_version(campaign) == draft


def test_editing_a_running_campaign_copies_the_current_version_as_n_plus_1():
    campaign = CampaignFactory(status=CampaignStatus.RUNNING)
    current = published(campaign, six_step_json())

    draft = draft_version(campaign)

    assert draft.number == 2 and not draft.is_published
    assert graph_to_json(graph_of(campaign, draft)) == graph_to_json(graph_of(campaign, current))
    campaign.refresh_from_db()
    assert campaign.current_version == current  # new entries still take version 1
    assert draft_version(campaign) == draft


def test_a_completed_campaign_has_no_draft():
    campaign = CampaignFactory(status=CampaignStatus.RUNNING)
    published(campaign, six_step_json())
    campaign.status = CampaignStatus.COMPLETED

    with pytest.raises(CampaignError, match="cannot be edited"):
        draft_version(campaign)


def test_graph_save_writes_the_steps_and_reads_back_the_same_graph():
    data = six_step_json()
    campaign = CampaignFactory()
    version = draft_version(campaign)

    graph = graph_save(version, data)

    assert [s["key"] for s in graph_to_json(graph)["steps"]] == ["s1", "s2", "s3", "s4", "s5",
                                                                 "s6"]
    step = version.steps.get(key="s1")
    assert (step.kind, step.template_id, step.channel) == ("send_message", data["steps"][0][
        "template"], "email")
    assert graph_of(campaign).steps["s4"].exits == {"A": "s5", "B": "s6"}


def test_graph_save_keeps_the_rows_of_kept_keys_and_drops_the_others():
    version = draft_version(CampaignFactory())
    graph_save(version, six_step_json())
    first = version.steps.get(key="s1").pk
    data = six_step_json()
    data["steps"] = data["steps"][:2]
    data["steps"][1]["exits"] = {"next": None}

    graph_save(version, data)

    assert sorted(version.steps.values_list("key", flat=True)) == ["s1", "s2"]
    assert version.steps.get(key="s1").pk == first


def test_graph_save_keeps_an_inline_email_in_its_columns():
    version = draft_version(CampaignFactory())
    data = {"start": "a", "steps": [{"key": "a", "kind": "send_email", "config": {
        "subject": "Hi", "html_body": "<p>Hi</p>", "text_body": ""}}]}

    graph = graph_save(version, data)

    step = Step.objects.get(version=version)
    assert (step.subject, step.html_body, step.config) == ("Hi", "<p>Hi</p>", {})
    assert graph.steps["a"].config["subject"] == "Hi"


def test_graph_save_refuses_a_published_version():
    campaign = CampaignFactory(status=CampaignStatus.RUNNING)
    current = published(campaign, six_step_json())

    with pytest.raises(CampaignError, match="published version"):
        graph_save(current, {"start": "x", "steps": [{"key": "x", "kind": "exit"}]})

    assert current.steps.count() == 6


@pytest.mark.parametrize("data, message", [
    ({"steps": "nope"}, "list of steps"),
    ({"steps": [{"kind": "exit"}]}, "needs a key"),
    ({"steps": [{"key": "a", "kind": "exit"}, {"key": "a", "kind": "exit"}]}, "Two steps"),
    ({"steps": [{"key": "k" * 40, "kind": "exit"}]}, "at most 32"),
    ({"steps": [{"key": "a", "kind": "send_message", "template": 999_999}]}, "does not exist"),
])
def test_graph_save_refuses_what_is_not_a_graph(data, message):
    version = draft_version(CampaignFactory())

    with pytest.raises(CampaignError, match=message):
        graph_save(version, data)

    assert not version.steps.exists()


def _enroll(campaign, version, step_key, state="active"):
    return Enrollment.objects.create(
        campaign=campaign, version=version, profile=ProfileFactory(), entry_key="once",
        step_key=step_key, state=state,
    )


def test_move_enrollments_moves_active_ones_whose_step_still_exists():
    campaign = CampaignFactory(status=CampaignStatus.RUNNING)
    v1 = published(campaign, six_step_json())
    data = six_step_json()
    data["steps"] = [s for s in data["steps"] if s["key"] != "s2"]
    data["steps"][0]["exits"] = {"next": "s3"}
    v2 = published(campaign, data, number=2)
    at_s1, at_s2 = _enroll(campaign, v1, "s1"), _enroll(campaign, v1, "s2")
    at_s3, done = _enroll(campaign, v1, "s3"), _enroll(campaign, v1, "s1", state="completed")

    moved = move_enrollments(campaign, v1, v2)

    assert moved == 2
    versions = {e.pk: e.version_id for e in Enrollment.objects.all()}
    assert versions == {at_s1.pk: v2.pk, at_s3.pk: v2.pk, at_s2.pk: v1.pk, done.pk: v1.pk}
    assert move_enrollments(campaign, v1, v2) == 0


def test_move_enrollments_refuses_a_draft_target():
    campaign = CampaignFactory(status=CampaignStatus.RUNNING)
    v1 = published(campaign, six_step_json())
    _enroll(campaign, v1, "s1")

    with pytest.raises(CampaignError, match="published"):
        move_enrollments(campaign, v1, draft_version(campaign))

    assert Enrollment.objects.get().version == v1

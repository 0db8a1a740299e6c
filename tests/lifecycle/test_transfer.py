"""Export a campaign as JSON and import it back as a new draft."""

import json
from datetime import time

import pytest

from campaigns import lifecycle
from campaigns.models import Campaign, CampaignStatus
from campaigns.services import CampaignError
from campaigns.transfer import export_campaign, import_campaign
from campaigns.versions import draft_version, graph_save
from tests.factories import SegmentFactory
from tests.lifecycle.builders import audience_campaign, six_step_json

pytestmark = pytest.mark.django_db


def exported_campaign():
    vip, churned = SegmentFactory(name="VIP"), SegmentFactory(name="Churned")
    campaign = audience_campaign(
        name="Winback", segment=SegmentFactory(name="Lapsed"), recurrence="0 9 * * 1",
        exit_rules={"all": [{"type": "segment", "op": "in", "segment": vip.pk}]},
        send_window_start=time(9), send_window_end=time(18), send_window_days=[1, 2, 3],
        reentry="after", reentry_days=30, holdout_percent=10, goal_event="purchase",
    )
    campaign.excluded_segments.set([churned])
    data = six_step_json()
    data["steps"][2]["config"] = {"rules": {"all": [
        {"type": "segment", "op": "not_in", "segment": vip.pk}]}}
    graph_save(draft_version(campaign), data)
    return lifecycle.publish(campaign)


def comparable(data: dict) -> dict:
    data = json.loads(json.dumps(data))
    data.pop("exported_at")
    data.pop("version")
    return data


def test_export_names_segments_and_templates_for_review():
    campaign = exported_campaign()

    data = export_campaign(campaign)

    assert (data["format"], data["format_version"]) == ("itinera.campaign", 1)
    assert data["campaign"]["segment"] == {"id": campaign.segment_id, "name": "Lapsed"}
    assert [s["name"] for s in data["campaign"]["excluded_segments"]] == ["Churned"]
    assert [s["name"] for s in data["segments"]] == ["VIP"]
    assert [(t["channel"], t["kind"]) for t in data["templates"]] == [
        ("email", "marketing"), ("webhook", "transactional")
    ]
    assert data["campaign"]["send_window_start"] == "09:00"
    assert [s["key"] for s in data["graph"]["steps"]] == ["s1", "s2", "s3", "s4", "s5", "s6"]
    json.dumps(data)  # plain JSON


def test_a_round_trip_makes_an_equal_draft():
    campaign = exported_campaign()
    data = export_campaign(campaign)

    copy = import_campaign(json.loads(json.dumps(data)))

    assert copy.pk != campaign.pk and copy.status == CampaignStatus.DRAFT
    assert comparable(export_campaign(copy)) == comparable(data)
    assert lifecycle.publish(copy).status == CampaignStatus.SCHEDULED  # valid as it was


def test_an_import_elsewhere_finds_segments_and_templates_by_name():
    data = export_campaign(exported_campaign())
    shift = 100_000
    for ref in [data["campaign"]["segment"], *data["campaign"]["excluded_segments"],
                *data["segments"], *data["templates"]]:
        ref["id"] += shift
    for step in data["graph"]["steps"]:
        if step["template"]:
            step["template"] += shift
    vip = data["segments"][0]["id"]
    data["campaign"]["exit_rules"]["all"][0]["segment"] = vip
    data["graph"]["steps"][2]["config"]["rules"]["all"][0]["segment"] = vip

    copy = import_campaign(data)

    exported = export_campaign(copy)
    assert exported["campaign"]["segment"]["name"] == "Lapsed"
    vip_here = exported["segments"][0]["id"]
    assert exported["campaign"]["exit_rules"]["all"][0]["segment"] == vip_here
    assert exported["graph"]["steps"][2]["config"]["rules"]["all"][0]["segment"] == vip_here
    assert [t["name"] for t in exported["templates"]] == [t["name"] for t in data["templates"]]


def test_an_import_names_what_it_cannot_resolve():
    data = export_campaign(exported_campaign())
    data["campaign"]["segment"] = {"id": 999_999, "name": "Nowhere"}
    data["templates"][0].update(id=888_888, name="Gone")
    data["graph"]["steps"][0]["template"] = 888_888
    before = Campaign.objects.count()

    with pytest.raises(CampaignError) as raised:
        import_campaign(data)

    assert raised.value.errors == {"segments": "Not found here: “Nowhere” (#999999).",
                                   "templates": "Not found here: “Gone” (#888888)."}
    assert Campaign.objects.count() == before


@pytest.mark.parametrize("change, field", [
    ({"format": "other"}, "__all__"),
    ({"format_version": 9}, "__all__"),
    ({"campaign": {"name": ""}}, "name"),
    ({"campaign": {"name": "x", "entry_kind": "telepathy"}}, "entry_kind"),
    ({"campaign": {"name": "x", "holdout_percent": "ten"}}, "holdout_percent"),
    ({"campaign": {"name": "x", "scheduled_at": "tomorrow"}}, "scheduled_at"),
    ({"graph": {"steps": "none"}}, "graph"),
])
def test_an_import_refuses_what_is_not_a_campaign(change, field):
    data = {"format": "itinera.campaign", "format_version": 1,
            "campaign": {"name": "x"}, "graph": {"steps": []}, **change}

    with pytest.raises(CampaignError) as raised:
        import_campaign(data)

    assert field in raised.value.errors

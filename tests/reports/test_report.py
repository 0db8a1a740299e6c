"""The campaign report: funnel, splits, holdout, winner, numbers against the delivery log."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignVersion, Enrollment, Step, StepVisit
from campaigns.reports.figures import campaign_report
from channels.models import Delivery, DeliveryEvent
from tests.factories import CampaignFactory, ProfileFactory, UserFactory
from tests.reports.mix import send_and_engage

pytestmark = pytest.mark.django_db


def log_count(step, status: str, distinct: bool = True) -> int:
    events = DeliveryEvent.objects.filter(delivery__campaign_step=step, status=status,
                                          delivery__is_proof=False)
    return events.values("delivery").distinct().count() if distinct else events.count()


def test_the_funnel_matches_the_delivery_log(outbox):
    mix = send_and_engage()

    report = campaign_report(campaign=mix.step.campaign)

    step = next(s for s in report["steps"] if s["key"] == mix.step.key)
    for status in ("sent", "delivered", "opened", "clicked", "bounced", "complained",
                   "unsubscribed"):
        assert step[status] == log_count(mix.step, status), status
    assert step["clicks"] == log_count(mix.step, "clicked", distinct=False) == 4
    assert step["skipped"] == Delivery.objects.filter(campaign_step=mix.step,
                                                      status="skipped").count() == 2
    assert step["rates"]["click_to_open"] == pytest.approx(2 / 4)
    assert {s["reason"] for s in report["skip_reasons"]} == {"missing_address", "unsubscribed"}
    assert {link["url"] for link in report["links"]} == {"https://a.example/x",
                                                          "https://b.example/y"}
    assert sum(p["sent"] for p in report["series"]) == 6
    assert sum(p["opened"] for p in report["series"]) == 4
    # Sent before journeys (no step visits): the step's entrants are its deliveries.
    assert step["entered"] == len(mix.deliveries) == report["totals"]["entered"] == 8


def test_the_report_page_shows_the_funnel_and_is_linked_from_the_campaign(
        outbox, marketer_client):
    mix = send_and_engage()
    url = reverse("campaign_report", args=[mix.step.campaign_id])

    html = marketer_client.get(url).content.decode()
    detail = marketer_client.get(reverse("campaign_detail", args=[mix.step.campaign_id]))

    assert f'href="{url}"' in detail.content.decode()
    assert 'data-total="sent">6<' in html
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert "https://a.example/x" in html


def split_campaign(*, a=(100, 10), b=(100, 25), control=(50, 5)):
    """A campaign whose split step s2 saw branch A and B entrants (entered, converted), and
    whose control group had `control` (entered, converted)."""
    campaign = CampaignFactory(holdout_percent=10)
    version = CampaignVersion.objects.create(campaign=campaign, number=1,
                                             published_at=timezone.now(), start_key="s2")
    campaign.current_version = version
    campaign.save(update_fields=["current_version"])
    split = Step.objects.create(campaign=campaign, version=version, key="s2", kind="split",
                                name="Subject test", config={"branches": [
                                    {"name": "A", "weight": 50}, {"name": "B", "weight": 50}]})
    now = timezone.now()
    for branch, (entered, converted) in (("A", a), ("B", b)):
        for i in range(entered):
            enrollment = Enrollment.objects.create(
                campaign=campaign, version=version, profile=ProfileFactory(),
                entry_key="once", step_key="s2", converted_at=now if i < converted else None)
            StepVisit.objects.create(enrollment=enrollment, step=split, campaign=campaign,
                                     entered_at=now, outcome=branch)
    for i in range(control[0]):
        Enrollment.objects.create(campaign=campaign, version=version, profile=ProfileFactory(),
                                  entry_key="once", step_key="s2", is_control=True,
                                  converted_at=now if i < control[1] else None)
    return campaign


def test_split_branches_side_by_side_with_intervals_and_significance():
    campaign = split_campaign()

    split = campaign_report(campaign=campaign)["splits"][0]

    a, b = split["branches"]
    assert (a["entered"], a["converted"], b["entered"], b["converted"]) == (100, 10, 100, 25)
    assert a["comparison"] is None
    assert b["comparison"]["difference"] == pytest.approx(0.15)
    assert b["comparison"]["significant"]
    assert a["interval"][0] < 0.10 < a["interval"][1]


def test_holdout_lift_compares_treated_with_control():
    campaign = split_campaign()

    holdout = campaign_report(campaign=campaign)["holdout"]

    assert holdout["treated"]["entered"] == 200
    assert holdout["control"] == {**holdout["control"], "entered": 50, "converted": 5}
    assert holdout["lift"]["difference"] == pytest.approx(35 / 200 - 5 / 50)


def test_declaring_a_winner_routes_new_entrants(marketer_client):
    campaign = split_campaign()
    url = reverse("campaign_declare_winner", args=[campaign.pk])

    response = marketer_client.post(url, {"step": "s2", "branch": "B"})

    assert response.status_code == 302
    step = Step.objects.get(campaign=campaign, key="s2")
    assert step.config["winner"] == "B"
    assert campaign_report(campaign=campaign)["splits"][0]["winner"] == "B"


def test_declaring_a_winner_needs_change_permission_and_a_real_branch(client, marketer_client):
    campaign = split_campaign()
    url = reverse("campaign_declare_winner", args=[campaign.pk])
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(viewer)

    assert client.post(url, {"step": "s2", "branch": "B"}).status_code == 403
    assert client.get(url).status_code in (403, 405)
    marketer_client.post(url, {"step": "s2", "branch": "Z"})
    assert "winner" not in Step.objects.get(campaign=campaign, key="s2").config

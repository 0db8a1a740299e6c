"""Entering journeys: audience runs (set-based), re-entry rules, the control group."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.journeys.entry import due_runs, run_audience, sweep_segment_entries
from campaigns.journeys.holdout import control_sql, in_control_group
from campaigns.models import CampaignRun, CampaignStatus, Enrollment
from profiles.models import Profile
from profiles.services import segment_save
from tests.journeys.builders import journey, pro_segment, profiles, send

pytestmark = pytest.mark.django_db


def test_the_sql_control_group_is_the_engines_hash():
    ids = list(range(1, 3001))
    for campaign_id, percent in ((7, 10), (123, 33), (98765, 50), (4, 0.5)):
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT p FROM unnest(%s::bigint[]) AS p "  # noqa: S608 — trusted SQL
                f"WHERE {control_sql(f'{campaign_id}::text', 'p', percent)}", [ids])
            in_sql = {row[0] for row in cursor.fetchall()}
        in_python = {p for p in ids if in_control_group(campaign_id, p, percent)}
        assert in_sql == in_python
        assert 0 < len(in_sql) < len(ids)


def test_an_audience_run_enrolls_every_member_at_the_start_step_once():
    profiles(50)
    profiles(10, prefix="free", plan="free")
    campaign = journey([send("s1")], segment=pro_segment(), holdout_percent=20)
    at = timezone.now() - timedelta(seconds=1)

    enrolled = run_audience(campaign_id=campaign.pk, scheduled_for=at)
    again = run_audience(campaign_id=campaign.pk, scheduled_for=at)

    assert (enrolled, again) == (50, 0)
    enrollments = Enrollment.objects.filter(campaign=campaign)
    assert {(e.step_key, e.state, e.entry_key) for e in enrollments} == {("s1", "active", "once")}
    members = set(Profile.objects.filter(attributes__plan="pro").values_list("id", flat=True))
    assert set(enrollments.values_list("profile_id", flat=True)) == members
    control = set(enrollments.filter(is_control=True).values_list("profile_id", flat=True))
    assert control == {p for p in members if in_control_group(campaign.pk, p, 20)}
    [run] = CampaignRun.objects.filter(campaign=campaign)
    assert (run.enrolled, run.finished_at is not None) == (50, True)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.next_run_at) == (CampaignStatus.RUNNING, None)


def test_extra_segments_add_and_excluded_segments_remove_members():
    profiles(5)
    profiles(3, prefix="vip", plan="vip")
    profiles(4, prefix="free", plan="free")
    vip = segment_save(name="VIP", rules={"all": [
        {"field": "attributes.plan", "op": "equals", "value": "vip"}]})
    blocked = segment_save(name="Blocked", rules={"all": [
        {"field": "external_id", "op": "in", "value": ["p-1", "vip-1"]}]})
    campaign = journey([send("s1")], segment=pro_segment())
    campaign.extra_segments.add(vip)
    campaign.excluded_segments.add(blocked)

    enrolled = run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())

    assert enrolled == 6
    entered = set(Enrollment.objects.values_list("profile__external_id", flat=True))
    assert entered == {"p-2", "p-3", "p-4", "p-5", "vip-2", "vip-3"}


def test_chunks_cover_the_whole_audience(settings):
    settings.LAUNCH_CHUNK_SIZE = 7
    profiles(40)
    campaign = journey([send("s1")], segment=pro_segment())

    assert run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now()) == 40


def recurring(reentry: str, **fields):
    profiles(4)
    return journey([send("s1")], segment=pro_segment(), recurrence="0 9 * * *",
                   reentry=reentry, **fields)


def test_a_recurring_run_sets_the_next_run_and_never_reenters_with_reentry_never():
    campaign = recurring("never")
    first = timezone.now() - timedelta(days=2)

    run_audience(campaign_id=campaign.pk, scheduled_for=first)
    campaign.refresh_from_db()
    assert campaign.next_run_at > timezone.now()
    assert (campaign.next_run_at.hour, campaign.next_run_at.minute) == (9, 0)

    assert run_audience(campaign_id=campaign.pk, scheduled_for=first + timedelta(days=1)) == 0
    assert Enrollment.objects.count() == 4


def test_reentry_always_enters_again_at_each_run():
    campaign = recurring("always")
    first = timezone.now() - timedelta(days=2)

    run_audience(campaign_id=campaign.pk, scheduled_for=first)
    assert run_audience(campaign_id=campaign.pk, scheduled_for=first + timedelta(days=1)) == 4

    assert Enrollment.objects.filter(campaign=campaign).count() == 8


def test_reentry_after_n_days_waits_n_days_since_the_last_entry():
    campaign = recurring("after", reentry_days=3)
    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now() - timedelta(days=1))

    assert run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now()) == 0
    Enrollment.objects.update(entered_at=timezone.now() - timedelta(days=4))
    assert run_audience(campaign_id=campaign.pk,
                        scheduled_for=timezone.now() + timedelta(seconds=1),
                        now=timezone.now() + timedelta(seconds=2)) == 4


def test_a_run_not_due_a_draft_or_a_paused_campaign_enrolls_nobody():
    profiles(3)
    later = journey([send("s1")], segment=pro_segment(), status=CampaignStatus.SCHEDULED)
    draft = journey([send("s1")], segment=pro_segment("P2"), status=CampaignStatus.DRAFT)
    paused = journey([send("s1")], segment=pro_segment("P3"), status=CampaignStatus.PAUSED)
    now = timezone.now()

    assert run_audience(campaign_id=later.pk, scheduled_for=now + timedelta(minutes=1)) == 0
    assert run_audience(campaign_id=draft.pk, scheduled_for=now) == 0
    assert run_audience(campaign_id=paused.pk, scheduled_for=now) == 0
    assert not Enrollment.objects.exists()


def test_due_runs_lists_scheduled_recurring_and_unfinished_runs():
    now = timezone.now()
    scheduled = journey([send("s1")], segment=pro_segment(), status=CampaignStatus.SCHEDULED,
                        scheduled_at=now - timedelta(minutes=1))
    journey([send("s1")], segment=pro_segment("P2"), status=CampaignStatus.SCHEDULED,
            scheduled_at=now + timedelta(minutes=1))
    recurring_ = journey([send("s1")], segment=pro_segment("P3"), recurrence="* * * * *",
                         next_run_at=now - timedelta(seconds=5))
    unfinished = journey([send("s1")], segment=pro_segment("P4"))
    CampaignRun.objects.create(campaign=unfinished, version=unfinished.current_version,
                               scheduled_for=now - timedelta(hours=1))

    assert set(due_runs(now)) == {
        (scheduled.pk, scheduled.scheduled_at), (recurring_.pk, recurring_.next_run_at),
        (unfinished.pk, now - timedelta(hours=1)),
    }


def test_a_run_left_unfinished_by_a_dead_worker_is_resumed_without_duplicates():
    profiles(6)
    campaign = journey([send("s1")], segment=pro_segment())
    at = timezone.now() - timedelta(minutes=1)
    run_audience(campaign_id=campaign.pk, scheduled_for=at)
    # The worker "died" after enrolling two profiles: the run is unfinished.
    CampaignRun.objects.update(finished_at=None, enrolled=0)
    Enrollment.objects.filter(id__in=list(Enrollment.objects.values_list("id", flat=True)[2:])
                              ).delete()

    assert run_audience(campaign_id=campaign.pk, scheduled_for=at) == 4

    assert Enrollment.objects.count() == 6
    assert CampaignRun.objects.get().enrolled == 6


def test_the_segment_entry_sweep_enters_new_matches_once_per_rule():
    profiles(3)
    campaign = journey([send("s1")], segment=pro_segment(), entry_kind="segment_entry")

    assert sweep_segment_entries() == 3
    assert sweep_segment_entries() == 0
    profiles(2, prefix="late")
    assert sweep_segment_entries() == 2
    assert Enrollment.objects.filter(campaign=campaign).count() == 5

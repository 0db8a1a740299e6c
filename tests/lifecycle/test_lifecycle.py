"""Lifecycle: publish (and republish as version N+1), pause, resume, archive, unschedule."""

import threading
from datetime import UTC, datetime, timedelta

import django_rq
import pytest
from django.db import connection
from django.utils import timezone

from campaigns import lifecycle
from campaigns.models import Campaign, CampaignRun, CampaignStatus, Enrollment
from campaigns.services import CampaignError, campaign_save, campaign_schedule
from campaigns.versions import draft_version, graph_save
from tests.factories import CampaignFactory, ProfileFactory
from tests.lifecycle.builders import MARKETING_HTML, audience_campaign, six_step_json

pytestmark = pytest.mark.django_db


def with_graph(campaign, data=None):
    graph_save(draft_version(campaign), data or six_step_json())
    return campaign


def launch_job_times() -> list[datetime]:
    registry = django_rq.get_queue("launch").scheduled_job_registry
    return [registry.get_scheduled_time(j) for j in registry.get_job_ids()]


# --- publish a draft -------------------------------------------------------------------------


def test_publishing_an_audience_for_later_schedules_it_and_its_launch(
    redis_conn, django_capture_on_commit_callbacks
):
    at = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    campaign = with_graph(audience_campaign(scheduled_at=at))

    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.publish(campaign)

    assert (campaign.status, campaign.next_run_at) == (CampaignStatus.SCHEDULED, at)
    version = campaign.current_version
    assert (version.number, version.is_published) == (1, True)
    assert launch_job_times() == [at]


def test_publishing_a_recurring_audience_computes_its_first_run():
    start = datetime(2030, 1, 1, 8, 30, tzinfo=UTC)  # a Tuesday
    campaign = with_graph(audience_campaign(scheduled_at=start, recurrence="0 9 * * 1"))

    lifecycle.publish(campaign, now=start - timedelta(days=1))

    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.next_run_at == datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def test_a_recurrence_firing_at_the_start_time_counts_it():
    start = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
    campaign = with_graph(audience_campaign(scheduled_at=start, recurrence="0 9 * * 1"))

    lifecycle.publish(campaign, now=start - timedelta(days=1))

    assert campaign.next_run_at == start


def test_publishing_an_audience_for_now_runs_it():
    now = timezone.now()
    campaign = with_graph(audience_campaign(scheduled_at=now - timedelta(seconds=5)))

    lifecycle.publish(campaign, now=now)

    assert (campaign.status, campaign.launched_at) == (CampaignStatus.RUNNING, now)
    assert campaign.next_run_at == now - timedelta(seconds=5)  # due: the sweep reads it


def test_an_audience_with_no_time_is_read_when_published(
    redis_conn, django_capture_on_commit_callbacks
):
    now = timezone.now()
    campaign = with_graph(audience_campaign(scheduled_at=None))

    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.publish(campaign, now=now)

    assert (campaign.status, campaign.next_run_at) == (CampaignStatus.RUNNING, now)
    assert len(django_rq.get_queue("launch").get_job_ids()) == 1  # read now, not at a sweep


def test_publishing_an_event_journey_runs_it():
    campaign = with_graph(CampaignFactory(entry_kind="event", entry_event="cart_abandoned",
                                          segment=None))

    lifecycle.publish(campaign)

    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.launched_at is not None and campaign.next_run_at is None


def test_an_invalid_campaign_is_not_published_and_the_errors_name_the_steps():
    data = six_step_json()
    data["steps"][1]["config"] = {"mode": "duration", "seconds": 0}
    campaign = with_graph(audience_campaign(segment=None), data)

    with pytest.raises(CampaignError) as raised:
        lifecycle.publish(campaign)

    errors = raised.value.errors
    assert set(errors) == {"segment", "steps"}
    assert list(errors["steps"]) == ["s2"]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and campaign.current_version is None
    assert not campaign.versions.get().is_published


def test_the_schedule_form_path_publishes_the_simple_campaign(
    redis_conn, django_capture_on_commit_callbacks
):
    campaign = campaign_save(name="Spring", segment=audience_campaign().segment,
                             subject="Hi", html_body=MARKETING_HTML)
    at = timezone.now() + timedelta(hours=1)

    with django_capture_on_commit_callbacks(execute=True):
        scheduled = campaign_schedule(campaign=campaign, at=at)

    assert (scheduled.status, scheduled.scheduled_at) == (CampaignStatus.SCHEDULED, at)
    step = scheduled.current_version.steps.get()
    assert (step.key, step.kind, step.subject) == ("s1", "send_email", "Hi")


# --- republish: version N+1 ------------------------------------------------------------------


def running_campaign():
    campaign = with_graph(CampaignFactory(entry_kind="event", entry_event="signup",
                                          segment=None))
    return lifecycle.publish(campaign)


def test_publishing_an_edit_of_a_running_campaign_makes_version_2_current():
    campaign = running_campaign()
    v1 = campaign.current_version
    inside = Enrollment.objects.create(campaign=campaign, version=v1, profile=ProfileFactory(),
                                       entry_key="once", step_key="s2")
    data = six_step_json()
    data["steps"][1]["config"] = {"mode": "duration", "seconds": 3600}
    graph_save(draft_version(campaign), data)

    lifecycle.publish(campaign)

    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.current_version.number == 2
    inside.refresh_from_db()
    assert inside.version == v1  # it finishes the version it entered
    assert campaign.current_version.steps.get(key="s2").config["seconds"] == 3600


def test_publishing_an_edit_keeps_a_paused_campaign_paused():
    campaign = lifecycle.pause(running_campaign())
    draft_version(campaign)

    lifecycle.publish(campaign)

    assert (campaign.status, campaign.current_version.number) == (CampaignStatus.PAUSED, 2)


def test_publishing_a_running_campaign_without_changes_is_refused():
    campaign = running_campaign()

    with pytest.raises(CampaignError, match="no changes"):
        lifecycle.publish(campaign)


def test_publishing_twice_publishes_once():
    campaign = with_graph(audience_campaign())
    stale = Campaign.objects.get(pk=campaign.pk)
    lifecycle.publish(campaign)

    with pytest.raises(CampaignError):
        lifecycle.publish(stale)

    assert campaign.versions.count() == 1


# --- pause, resume, archive, unschedule ------------------------------------------------------


def test_pause_and_resume_a_running_campaign():
    campaign = running_campaign()

    lifecycle.pause(campaign, reason="Typo in the offer")
    assert (campaign.status, campaign.pause_reason) == (CampaignStatus.PAUSED, "Typo in the offer")
    assert campaign.paused_at is not None

    lifecycle.resume(campaign)
    assert (campaign.status, campaign.paused_at, campaign.pause_reason) == (
        CampaignStatus.RUNNING, None, ""
    )


def test_a_paused_campaign_that_never_launched_resumes_scheduled():
    campaign = lifecycle.publish(with_graph(audience_campaign()))
    lifecycle.pause(campaign)

    lifecycle.resume(campaign)

    assert campaign.status == CampaignStatus.SCHEDULED


@pytest.mark.parametrize("action, status", [
    (lifecycle.pause, CampaignStatus.DRAFT), (lifecycle.pause, CampaignStatus.COMPLETED),
    (lifecycle.resume, CampaignStatus.RUNNING), (lifecycle.archive, CampaignStatus.RUNNING),
    (lifecycle.archive, CampaignStatus.SCHEDULED), (lifecycle.unschedule, CampaignStatus.RUNNING),
])
def test_a_transition_from_the_wrong_status_is_refused(action, status):
    campaign = CampaignFactory(status=status)

    with pytest.raises(CampaignError):
        action(campaign)

    campaign.refresh_from_db()
    assert campaign.status == status


@pytest.mark.parametrize("status", [CampaignStatus.COMPLETED, CampaignStatus.PAUSED,
                                    CampaignStatus.DRAFT])
def test_archive(status):
    campaign = CampaignFactory(status=status)

    lifecycle.archive(campaign)

    assert campaign.status == CampaignStatus.ARCHIVED and campaign.archived_at is not None


def test_unschedule_then_publish_again_reuses_the_version():
    campaign = lifecycle.publish(with_graph(audience_campaign()))
    lifecycle.unschedule(campaign)
    assert (campaign.status, campaign.scheduled_at) == (CampaignStatus.DRAFT, None)

    lifecycle.publish(campaign, at=timezone.now() + timedelta(hours=3))

    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.versions.count() == 1


def twice_at_once(action, campaign_id: int) -> list[str]:
    barrier, outcomes = threading.Barrier(2), []

    def click():
        barrier.wait()
        try:
            action(Campaign.objects.get(pk=campaign_id))
            outcomes.append("done")
        except CampaignError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.django_db(transaction=True)
def test_two_pauses_at_once_make_one_transition():
    campaign = running_campaign()

    assert twice_at_once(lifecycle.pause, campaign.pk) == ["done", "refused"]

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED


@pytest.mark.django_db(transaction=True)
def test_two_publishes_at_once_publish_once():
    campaign = with_graph(audience_campaign())

    assert twice_at_once(lifecycle.publish, campaign.pk) == ["done", "refused"]

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.versions.get().is_published


def test_complete_finished_completes_a_one_off_audience_once_its_walks_are_over():
    campaign = lifecycle.publish(with_graph(audience_campaign(
        scheduled_at=timezone.now() - timedelta(minutes=1))))
    run = CampaignRun.objects.create(campaign=campaign, version=campaign.current_version,
                                     scheduled_for=campaign.scheduled_at)
    walking = Enrollment.objects.create(campaign=campaign, version=campaign.current_version,
                                        profile=ProfileFactory(), entry_key="once",
                                        step_key="s2", run=run)
    Campaign.objects.filter(pk=campaign.pk).update(next_run_at=None)
    CampaignRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())

    assert lifecycle.complete_finished(campaign_id=campaign.pk) == 0  # one is still walking
    Enrollment.objects.filter(pk=walking.pk).update(state="completed")
    assert lifecycle.complete_finished(campaign_id=campaign.pk) == 1

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED

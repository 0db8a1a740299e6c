"""Campaign lifecycle: save, schedule (an RQ job in Redis), launch, send, complete, sweep."""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from campaigns import jobs
from campaigns.journeys.walk import process_due
from campaigns.models import (
    Campaign,
    CampaignRun,
    CampaignStatus,
    CampaignVersion,
    Enrollment,
    EnrollmentState,
)
from campaigns.services import (
    CampaignError,
    campaign_complete_if_done,
    campaign_launch,
    campaign_save,
    campaign_schedule,
    campaign_unschedule,
    step_send,
)
from channels.models import Delivery, DeliveryStatus
from tests.factories import DeliveryFactory, ProfileFactory, SegmentFactory, StepFactory
from tests.smtp import SmtpSink

pytestmark = pytest.mark.django_db

HTML = ("<p>Hello {{ profile.first_name }}, your plan is {{ profile.attributes.plan }}.</p>"
        "<p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>")


def save(**overrides) -> Campaign:
    values = {"name": "Spring sale", "segment": SegmentFactory(),
              "subject": "Hello {{ profile.first_name }}", "html_body": HTML}
    return campaign_save(**{**values, **overrides})


def scheduled_campaign(*, at, members: int = 0) -> Campaign:
    """A scheduled campaign (no job in Redis) whose segment has `members` pro profiles."""
    step = StepFactory(subject="Hello {{ profile.first_name }}", html_body=HTML,
                       campaign__status=CampaignStatus.SCHEDULED, campaign__scheduled_at=at)
    ProfileFactory.create_batch(members, attributes={"plan": "pro"})
    return step.campaign


def launch_jobs() -> list[str]:
    queue = django_rq.get_queue("launch")
    return queue.job_ids + queue.scheduled_job_registry.get_job_ids()


# --- save ---------------------------------------------------------------------------------


def test_save_creates_a_draft_with_its_email_step():
    campaign = save(text_body="Hi {{ profile.first_name }}")

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    step = campaign.steps.get()
    assert (step.position, step.subject, step.html_body, step.text_body) == (
        1, "Hello {{ profile.first_name }}", HTML, "Hi {{ profile.first_name }}"
    )


def test_save_refuses_a_liquid_syntax_error_with_its_line_under_its_field():
    body = "<p>Hello</p>\n<p>{{ profile.first_name }}</p>\n<p>{% if %}</p>"

    with pytest.raises(CampaignError) as raised:
        save(html_body=body, text_body="{{ profile.first_name | nope }}")

    errors = raised.value.errors
    assert set(errors) == {"html_body", "text_body"}
    assert errors["html_body"].startswith("Line 3: ")
    assert "nope" in errors["text_body"]
    assert not Campaign.objects.exists()


def test_save_requires_a_name_a_subject_and_a_body():
    with pytest.raises(CampaignError) as raised:
        save(name=" ", subject="", html_body="  ")

    assert set(raised.value.errors) == {"name", "subject", "html_body"}


def test_save_edits_a_draft_in_place():
    campaign = save()

    save(campaign=campaign, name="Renamed", subject="New subject")

    campaign.refresh_from_db()
    assert campaign.name == "Renamed"
    assert campaign.steps.get().subject == "New subject"


def test_save_refuses_to_edit_a_scheduled_campaign():
    campaign = scheduled_campaign(at=timezone.now() + timedelta(hours=1))

    with pytest.raises(CampaignError) as raised:
        save(campaign=campaign, name="Changed")

    assert "cannot be edited" in raised.value.errors["__all__"]
    campaign.refresh_from_db()
    assert campaign.name != "Changed"


# --- schedule -----------------------------------------------------------------------------


def test_schedule_requires_a_segment(redis_conn, django_capture_on_commit_callbacks):
    campaign = save(segment=None)

    with pytest.raises(CampaignError) as raised, django_capture_on_commit_callbacks(execute=True):
        campaign_schedule(campaign=campaign, at=timezone.now() + timedelta(hours=1))

    assert set(raised.value.errors) == {"segment"}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert launch_jobs() == []


def test_schedule_enqueues_a_scheduled_launch_job(redis_conn, django_capture_on_commit_callbacks):
    campaign = save()
    at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)

    with django_capture_on_commit_callbacks(execute=True):
        campaign_schedule(campaign=campaign, at=at)

    campaign.refresh_from_db()
    assert (campaign.status, campaign.scheduled_at) == (CampaignStatus.SCHEDULED, at)
    registry = django_rq.get_queue("launch").scheduled_job_registry
    [job_id] = registry.get_job_ids()
    assert registry.get_scheduled_time(job_id) == at
    job = django_rq.get_queue("launch").fetch_job(job_id)
    assert (job.func, job.args) == (jobs.launch_campaign, (campaign.pk,))


def test_a_launch_job_never_runs_before_the_scheduled_time(
    redis_conn, django_capture_on_commit_callbacks
):
    # RQ keeps whole seconds: a job for 10:00:00.700 must not become due at 10:00:00.
    campaign = save()
    at = (timezone.now() + timedelta(hours=1)).replace(microsecond=700_000)

    with django_capture_on_commit_callbacks(execute=True):
        campaign_schedule(campaign=campaign, at=at)

    registry = django_rq.get_queue("launch").scheduled_job_registry
    [job_id] = registry.get_job_ids()
    assert registry.get_scheduled_time(job_id) >= at


def test_schedule_in_the_past_enqueues_the_launch_now(
    redis_conn, django_capture_on_commit_callbacks
):
    campaign = save()

    with django_capture_on_commit_callbacks(execute=True):
        campaign_schedule(campaign=campaign, at=timezone.now() - timedelta(minutes=1))

    queue = django_rq.get_queue("launch")
    assert len(queue.job_ids) == 1
    assert queue.scheduled_job_registry.get_job_ids() == []


def test_only_a_draft_can_be_scheduled(redis_conn):
    campaign = scheduled_campaign(at=timezone.now() + timedelta(hours=1))

    with pytest.raises(CampaignError, match="Only a draft"):
        campaign_schedule(campaign=campaign, at=timezone.now() + timedelta(hours=2))


def test_unschedule_returns_a_scheduled_campaign_to_draft():
    campaign = scheduled_campaign(at=timezone.now() + timedelta(hours=1))

    campaign_unschedule(campaign=campaign)

    campaign.refresh_from_db()
    assert (campaign.status, campaign.scheduled_at) == (CampaignStatus.DRAFT, None)


@pytest.mark.parametrize("status", [CampaignStatus.DRAFT, CampaignStatus.RUNNING,
                                    CampaignStatus.COMPLETED])
def test_unschedule_refuses_a_campaign_that_is_not_scheduled(status):
    campaign = StepFactory(campaign__status=status).campaign

    with pytest.raises(CampaignError, match="Only a scheduled campaign"):
        campaign_unschedule(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.status == status


def test_an_unscheduled_campaign_is_not_launched_by_its_old_job():
    at = timezone.now() - timedelta(seconds=1)
    campaign = scheduled_campaign(at=at, members=2)
    campaign_unschedule(campaign=campaign)

    assert jobs.launch_campaign(campaign.pk) == 0

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert not Delivery.objects.exists()


# --- launch -------------------------------------------------------------------------------


def test_launch_before_the_scheduled_time_does_nothing():
    at = timezone.now() + timedelta(minutes=5)
    campaign = scheduled_campaign(at=at, members=3)

    created = campaign_launch(campaign_id=campaign.pk, now=at - timedelta(seconds=1))

    assert created == 0
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert not Delivery.objects.exists()


def test_launch_at_the_scheduled_time_enrolls_the_audience_and_runs():
    at = timezone.now() + timedelta(minutes=5)
    campaign = scheduled_campaign(at=at, members=3)
    ProfileFactory(attributes={"plan": "free"})

    created = campaign_launch(campaign_id=campaign.pk, now=at)

    assert created == 3
    campaign.refresh_from_db()
    assert (campaign.status, campaign.launched_at) == (CampaignStatus.RUNNING, at)
    [run] = CampaignRun.objects.filter(campaign=campaign)
    assert (run.scheduled_for, run.enrolled, run.finished_at is not None) == (at, 3, True)
    step = campaign.steps.get()
    enrollments = Enrollment.objects.filter(campaign=campaign)
    assert {(e.step_key, e.state, e.next_due_at) for e in enrollments} == {
        (step.key, EnrollmentState.ACTIVE, at)}
    assert enrollments.count() == 3
    assert not Delivery.objects.exists()  # the walk creates them, batch by batch

    process_due(limit=100, now=at)

    assert Delivery.objects.filter(campaign_step=step).count() == 3
    assert set(Enrollment.objects.values_list("state", flat=True)) == {EnrollmentState.COMPLETED}


def test_a_second_launch_creates_nothing():
    at = timezone.now() - timedelta(seconds=1)
    campaign = scheduled_campaign(at=at, members=3)
    campaign_launch(campaign_id=campaign.pk)

    again = campaign_launch(campaign_id=campaign.pk)

    assert again == 0
    assert Enrollment.objects.count() == 3
    assert CampaignRun.objects.count() == 1


def test_launch_nudges_the_walk_jobs_after_commit(
    redis_conn, settings, django_capture_on_commit_callbacks
):
    settings.SEND_PARALLELISM = 2
    campaign = scheduled_campaign(at=timezone.now() - timedelta(seconds=1), members=1)

    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign_id=campaign.pk)

    assert sorted(django_rq.get_queue("send").job_ids) == [
        f"campaign-walk-{campaign.pk}-0", f"campaign-walk-{campaign.pk}-1"
    ]


# --- send and complete --------------------------------------------------------------------


@pytest.fixture
def smtp(settings):
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield sink
    sink.stop()


def test_step_send_sends_every_delivery_and_completes_the_campaign(smtp):
    campaign = scheduled_campaign(at=timezone.now() - timedelta(seconds=1), members=7)
    ProfileFactory(attributes={"plan": "pro"}, first_name="Zoé", email="zoe@example.com")
    campaign_launch(campaign_id=campaign.pk)
    step = campaign.steps.get()

    attempted = step_send(step_id=step.pk, batch_size=3)

    assert attempted == 8
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 8
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert campaign.completed_at is not None
    [zoe] = smtp.by_recipient()["zoe@example.com"]
    assert zoe["Subject"] == "Hello Zoé"
    assert "Hello Zoé, your plan is pro." in zoe.get_body(("html",)).get_content()
    assert "Hello Zoé, your plan is pro." in zoe.get_body(("plain",)).get_content()
    assert len({m.peer for m in smtp.messages}) == 3  # one connection per batch of 3


def test_step_send_does_nothing_for_a_campaign_that_is_not_running(smtp):
    step = StepFactory(campaign__status=CampaignStatus.SCHEDULED)
    DeliveryFactory(campaign_step=step)

    assert step_send(step_id=step.pk) == 0

    assert Delivery.objects.get().status == DeliveryStatus.QUEUED
    assert smtp.messages == []


def test_a_campaign_with_deliveries_in_flight_is_not_completed():
    step = StepFactory(campaign__status=CampaignStatus.RUNNING)
    DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENT)
    DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENDING)

    assert campaign_complete_if_done(campaign_id=step.campaign_id) is False

    step.campaign.refresh_from_db()
    assert step.campaign.status == CampaignStatus.RUNNING


def launched(step) -> None:
    """The campaign's audience run happened and finished (nobody left inside)."""
    version = CampaignVersion.objects.create(campaign=step.campaign, start_key=step.key)
    CampaignRun.objects.create(campaign=step.campaign, version=version,
                               scheduled_for=timezone.now(), finished_at=timezone.now())


def test_a_running_campaign_with_only_final_deliveries_is_completed_once():
    step = StepFactory(campaign__status=CampaignStatus.RUNNING)
    launched(step)
    for status in (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED):
        DeliveryFactory(campaign_step=step, status=status)

    assert campaign_complete_if_done(campaign_id=step.campaign_id) is True
    assert campaign_complete_if_done(campaign_id=step.campaign_id) is False

    step.campaign.refresh_from_db()
    assert step.campaign.status == CampaignStatus.COMPLETED


# --- sweep --------------------------------------------------------------------------------


def test_the_sweep_launches_a_due_campaign_whose_job_was_lost(
    redis_conn, settings, django_capture_on_commit_callbacks
):
    settings.CHANNEL_BACKENDS = {**settings.CHANNEL_BACKENDS,
                                 "email": "channels.backends.memory.MemoryBackend"}
    campaign = scheduled_campaign(at=timezone.now() - timedelta(minutes=2), members=2)
    not_due = scheduled_campaign(at=timezone.now() + timedelta(minutes=2))
    assert launch_jobs() == []  # Redis lost the launch jobs

    with django_capture_on_commit_callbacks(execute=True):
        result = jobs.sweep()

    assert result["launched"] == 1
    campaign.refresh_from_db()
    not_due.refresh_from_db()
    assert not_due.status == CampaignStatus.SCHEDULED
    # The sweep also walked the new enrollments (one message each, sent) and, nothing being
    # left to do, completed the campaign.
    assert result["walked"] == 2
    assert Enrollment.objects.filter(campaign=campaign, state="completed").count() == 2
    assert set(Delivery.objects.filter(campaign_step__campaign=campaign)
               .values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert Delivery.objects.filter(campaign_step__campaign=campaign).count() == 2
    assert (campaign.status, result["completed"]) == (CampaignStatus.COMPLETED, 1)


def test_the_sweep_marks_interrupted_sends_unknown_and_completes_the_campaign(redis_conn,
                                                                             settings):
    settings.SEND_LEASE_SECONDS = 60
    step = StepFactory(campaign__status=CampaignStatus.RUNNING)
    DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENT)
    launched(step)
    stale = DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENDING,
                            claimed_at=timezone.now() - timedelta(minutes=5))

    result = jobs.sweep()

    assert (result["interrupted"], result["completed"]) == (1, 1)
    stale.refresh_from_db()
    assert stale.status == DeliveryStatus.UNKNOWN
    step.campaign.refresh_from_db()
    assert step.campaign.status == CampaignStatus.COMPLETED


def test_the_sweep_nudges_a_running_step_with_queued_deliveries(
    redis_conn, settings, django_capture_on_commit_callbacks
):
    settings.SEND_PARALLELISM = 1
    step = StepFactory(campaign__status=CampaignStatus.RUNNING)
    DeliveryFactory(campaign_step=step)

    with django_capture_on_commit_callbacks(execute=True):  # django-rq enqueues on commit
        result = jobs.sweep()
    with django_capture_on_commit_callbacks(execute=True):
        again = jobs.sweep()  # the job is still queued: not enqueued twice

    assert result["nudged"] == again["nudged"] == 1
    assert django_rq.get_queue("send").job_ids == [f"step-send-{step.pk}-0"]



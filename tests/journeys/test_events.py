"""New events in the journeys: entries, wakes, conversions, exits — walked at once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.journeys.entry import enter_on_events, run_audience
from campaigns.journeys.walk import process_due
from campaigns.models import Enrollment, StepVisit
from profiles.ingestion.tracking import event_track
from tests.factories import ProfileFactory
from tests.journeys.builders import journey, pro_segment, send

pytestmark = pytest.mark.django_db


def track(profile, name: str, properties: dict | None = None, message_id: str = "") -> int:
    raw = {"name": name, "external_id": profile.external_id, "properties": properties or {}}
    if message_id:
        raw["message_id"] = message_id
    return event_track(raw=raw, default_source="api").id


def signup_journey(**fields):
    return journey([send("s1")], entry_kind="event", entry_event="signup",
                   entry_event_filter=[{"property": "plan", "op": "equals", "value": "pro"}],
                   **fields)


def test_a_matching_event_enters_the_profile_and_its_message_goes_out_at_once(outbox):
    campaign = signup_journey()
    ada = ProfileFactory(external_id="ada", first_name="Ada")

    result = enter_on_events([track(ada, "signup", {"plan": "pro"})])

    assert (result["entered"], result["walked"]) == (1, 1)
    [enrollment] = Enrollment.objects.filter(campaign=campaign)
    assert enrollment.entry_key == "once" and enrollment.state == "completed"
    [message] = outbox["email"]
    assert (message.address, message.content["subject"]) == (ada.email, "s1 for Ada")


def test_events_failing_the_filter_or_the_segment_enter_nobody():
    signup_journey(segment=pro_segment())
    free = ProfileFactory(external_id="free", attributes={"plan": "free"})
    pro = ProfileFactory(external_id="pro", attributes={"plan": "pro"})

    enter_on_events([track(pro, "signup", {"plan": "free"}),  # the filter says no
                     track(free, "signup", {"plan": "pro"}),  # not in the segment
                     track(pro, "login", {"plan": "pro"})])  # another event

    assert not Enrollment.objects.exists()
    enter_on_events([track(pro, "signup", {"plan": "pro"})])
    assert Enrollment.objects.get().profile_id == pro.pk


def test_the_same_event_handled_twice_enters_once_and_sends_once(outbox):
    signup_journey(reentry="always")
    ada = ProfileFactory(external_id="ada")
    event_id = track(ada, "signup", {"plan": "pro"})

    enter_on_events([event_id])
    enter_on_events([event_id])

    assert Enrollment.objects.get().entry_key == f"event:{event_id}"
    assert len(outbox["email"]) == 1


def test_reentry_after_n_days_enters_one_of_several_events_of_a_batch():
    signup_journey(reentry="after", reentry_days=7)
    ada = ProfileFactory(external_id="ada")

    enter_on_events([track(ada, "signup", {"plan": "pro"}) for _ in range(3)])
    enter_on_events([track(ada, "signup", {"plan": "pro"})])

    assert Enrollment.objects.count() == 1


def test_an_enrollment_waiting_for_an_event_wakes_and_takes_the_event_exit(outbox):
    profile = ProfileFactory(external_id="ada", attributes={"plan": "pro"})
    campaign = journey([
        {"key": "w", "kind": "wait", "exits": {"event": "yes", "timeout": None},
         "config": {"mode": "event", "event": "purchase", "timeout_seconds": 86400}},
        send("yes"),
    ], segment=pro_segment())
    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())
    process_due(limit=10)
    assert Enrollment.objects.get().wait_event == "purchase"

    result = enter_on_events([track(profile, "purchase")])

    assert result["woken"] == 1
    enrollment = Enrollment.objects.get()
    assert (enrollment.state, enrollment.step_key) == ("completed", "yes")
    assert StepVisit.objects.get(step__key="w").outcome == "event"
    assert len(outbox["email"]) == 1


def test_a_goal_event_converts_the_enrollment_once():
    profile = ProfileFactory(external_id="ada")
    campaign = journey([send("s1")], goal_event="purchase", goal_days=7)
    enrollment = Enrollment.objects.create(
        campaign=campaign, version=campaign.current_version, profile=profile, entry_key="once",
        step_key="s1", next_due_at=timezone.now() + timedelta(days=1),
        entered_at=timezone.now() - timedelta(days=1))

    enter_on_events([track(profile, "purchase")])
    first = Enrollment.objects.get().converted_at
    enter_on_events([track(profile, "purchase")])

    assert first is not None
    enrollment.refresh_from_db()
    assert enrollment.converted_at == first


def test_an_exit_event_takes_the_profile_out_and_closes_its_visit():
    profile = ProfileFactory(external_id="ada", attributes={"plan": "pro"})
    campaign = journey([{"key": "w", "kind": "wait", "exits": {"next": "s2"},
                         "config": {"mode": "duration", "seconds": 3600}}, send("s2")],
                       segment=pro_segment(), exit_event="unsubscribe_all")
    run_audience(campaign_id=campaign.pk, scheduled_for=timezone.now())
    process_due(limit=10)

    result = enter_on_events([track(profile, "unsubscribe_all")])

    assert result["exited"] == 1
    enrollment = Enrollment.objects.get()
    assert (enrollment.state, enrollment.exit_reason) == ("exited", "exit_event")
    assert StepVisit.objects.get().outcome == "exited"

"""Acceptance of issue #6: a marketer designs, simulates, publishes, pauses, edits (version 2)
and resumes a scheduled multi-step campaign and a real-time event-triggered journey in the
browser, with real sends — a real RQ worker process and a real SMTP sink.

What the test does besides the browser, and why:
- Profiles, a segment and the message templates are made in the setup (their own pages
  have their own browser tests).
- The cron's 30-second sweep (config/cron.py, `manage.py rqcron`) is stood in for by
  `cron_tick()`: the test enqueues the same job on the "sweep" queue, the worker runs it.
- Waits are a minute or an hour (the designer's smallest unit is the minute): the test
  makes that time pass by moving the waiting enrollments' arrival and deadline back
  (`time_passes()`), the only rows it writes behind the product's back.
- Events come in through the ingestion API over HTTP, with a token.

Screenshots: test-artifacts/accept-*.png.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta

import django_rq
import pytest
from django.utils import timezone
from playwright.sync_api import expect
from rq.job import JobStatus

from campaigns.models import Campaign, CampaignStatus, Enrollment, EnrollmentState, StepVisit
from channels.message_templates import template_save
from channels.models import Delivery
from profiles.models import Profile
from profiles.services import api_token_create, segment_save
from tests.browser.test_journey_designer import _add, _save_step
from tests.browser.test_marketer_flow import log_in
from tests.e2e.conftest import rq_worker, smtp_sink, start_rq_worker  # noqa: F401 (fixtures)
from tests.factories import EventFactory, ProfileFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HTML = '<p>Hello {{ profile.first_name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


@pytest.fixture
def marketer_login(marketers_group):
    user = UserFactory(username="maria")
    user.groups.add(marketers_group)
    return user


def email_template(name: str, subject: str):
    return template_save(name=name, channel="email", kind="marketing",
                         content={"subject": subject, "html": HTML})


def subjects_by_recipient(sink) -> dict[str, list[str]]:
    return {rcpt: sorted(str(m["Subject"]) for m in messages)
            for rcpt, messages in sink.by_recipient().items()}


def assert_no_message_twice(sink) -> None:
    ids = Counter(m.parsed()["Message-ID"] for m in list(sink.messages))
    assert all(n == 1 for n in ids.values()), ids.most_common(3)
    per_step = Counter(Delivery.objects.values_list("profile_id", "campaign_step__key"))
    assert all(n == 1 for n in per_step.values()), per_step.most_common(3)


def wait_for(check, *, timeout: float, what: str, worker=None) -> float:
    """Poll `check` until true; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        if worker is not None:
            worker.assert_alive()
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - start


def cron_tick(timeout: float = 60) -> dict:
    """The cron's sweep, run by the worker (the same job config/cron.py registers)."""
    job = django_rq.get_queue("sweep").enqueue("campaigns.jobs.sweep")
    deadline = time.monotonic() + timeout
    while (status := job.get_status()) not in (JobStatus.FINISHED, JobStatus.FAILED):
        assert time.monotonic() < deadline, f"the sweep did not finish in {timeout} s"
        time.sleep(0.1)
    assert status == JobStatus.FINISHED, job.latest_result().exc_string
    return job.return_value()


def events_drained(timeout: float = 15) -> None:
    """Wait until the worker has run every ingestion job (queue "events")."""
    queue = django_rq.get_queue("events")

    def idle() -> bool:
        return queue.count == 0 and queue.started_job_registry.count == 0

    # Twice, apart: a job between its dequeue and its start registry is in neither.
    for _ in range(2):
        wait_for(idle, timeout=timeout, what="the events queue to drain")
        time.sleep(0.3)
    assert idle()


def time_passes(enrollments, seconds: int) -> int:
    """Stand-in for the clock: the waits of these enrollments started `seconds` earlier
    (arrival, stored deadline and due time moved back)."""
    delta = timedelta(seconds=seconds)
    moved = 0
    for enrollment in enrollments:
        data = dict(enrollment.data or {})
        if data.get("until"):
            data["until"] = (datetime.fromisoformat(data["until"]) - delta).isoformat()
        Enrollment.objects.filter(pk=enrollment.pk).update(
            step_entered_at=enrollment.step_entered_at - delta,
            next_due_at=enrollment.next_due_at - delta, data=data)
        moved += 1
    return moved


def local_input(at: datetime) -> str:
    """A datetime-local value (chromium drops ":00" seconds, which Playwright's fill
    refuses as malformed, so whole minutes are written without them)."""
    at = timezone.localtime(at)
    return at.strftime("%Y-%m-%dT%H:%M" if at.second == 0 else "%Y-%m-%dT%H:%M:%S")


def flash(page, text: str) -> None:
    expect(page.locator(".messages")).to_contain_text(text)


# --- 1. a scheduled multi-step campaign --------------------------------------------------


def test_scheduled_campaign_designed_published_paused_edited_and_resumed(
    page, live_server, marketer_login, rq_worker, smtp_sink, screenshot  # noqa: F811
):
    started = time.monotonic()
    members = [ProfileFactory(external_id=f"m-{i:02d}", email=f"m{i:02d}@example.com",
                              first_name=f"Member{i:02d}", attributes={"plan": "pro"})
               for i in range(20)]
    buyers = members[:8]
    for profile in buyers:
        EventFactory(profile=profile, name="purchase")
    outsiders = ProfileFactory.create_batch(5, attributes={"plan": "free"})
    segment_save(name="Pro customers",
                 rules={"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]})
    email_template("Welcome", "Welcome {{ profile.first_name }}")
    email_template("Follow-up", "Thanks for buying, {{ profile.first_name }}")
    email_template("Follow-up v2", "V2: a gift for you, {{ profile.first_name }}")
    log_in(page, live_server, "maria")

    # Settings: the Pro customers, read once, an hour from now for the time of the design.
    page.click("#new-journey")
    page.fill("#id_name", "Spring series")
    page.check("input[name=entry_kind][value=audience]")
    page.select_option("#id_segment", label="Pro customers")
    page.fill("#id_scheduled_at",
              local_input((timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)))
    page.click("#save-settings")
    page.wait_for_url("**/designer/")
    page.wait_for_load_state()
    campaign = Campaign.objects.get(name="Spring series")
    assert campaign.entry_kind == "audience" and campaign.segment.name == "Pro customers"

    # Design: send → wait a minute → bought lately? → yes: send the follow-up / no: end.
    _add(page, ":", "send_message")
    page.select_option("#id_step-template", label="Welcome (Email)")
    _save_step(page)
    _add(page, "s1:next", "wait")
    page.fill("#id_step-amount", "1")
    page.select_option("#id_step-unit", "minutes")
    _save_step(page)
    _add(page, "s2:next", "condition")
    page.check('input[name="step-mode"][value=event]')
    page.fill("#id_step-event", "purchase")
    page.fill("#id_step-within_days", "7")
    _save_step(page)
    _add(page, "s3:yes", "send_message")
    page.select_option("#id_step-template", label="Follow-up (Email)")
    _save_step(page)
    expect(page.locator("#problems")).to_contain_text("ready to publish")
    v1 = campaign.versions.get()
    assert {s.key: (s.kind, s.exits) for s in v1.steps.all()} == {
        "s1": ("send_message", {"next": "s2"}), "s2": ("wait", {"next": "s3"}),
        "s3": ("condition", {"yes": "s4", "no": None}), "s4": ("send_message", {"next": None}),
    }
    assert v1.steps.get(key="s2").config == {"mode": "duration", "seconds": 60}

    # Simulate: 20 enter, 20 welcomes, 8 bought lately and would get the follow-up.
    page.click("#simulate")
    expect(page.locator('#sim-summary [data-sim="audience"]')).to_have_text("20")
    expect(page.locator('#sim-summary [data-sim="would_send"]')).to_have_text("28")
    expect(page.locator('#step-s1 [data-sim="sent"]')).to_have_text("20")
    expect(page.locator('#step-s3 [data-sim="entered"]')).to_have_text("20")
    expect(page.locator("#step-s3 + .branches .exit-label").first).to_have_text("yes · 8")
    expect(page.locator("#step-s3 + .branches .exit-label").nth(1)).to_have_text("no · 12")
    expect(page.locator('#step-s4 [data-sim="sent"]')).to_have_text("8")
    screenshot("accept-scheduled-simulated")
    assert len(smtp_sink.messages) == 0 and not Delivery.objects.exists()

    # The design is ready sooner than planned: read the audience in 8 seconds; publish.
    page.click("#settings-link")
    page.fill("#id_scheduled_at",
              local_input((timezone.now() + timedelta(seconds=8)).replace(microsecond=0)))
    page.click("#save-settings")
    page.wait_for_url("**/designer/")
    page.click("#action-publish")
    flash(page, "scheduled")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED and campaign.current_version == v1
    screenshot("accept-scheduled-published")

    # The worker's scheduler launches it; every member gets the welcome, personalized.
    wait_for(lambda: len(smtp_sink.messages) >= 20, timeout=30, what="20 welcomes",
             worker=rq_worker)
    received = subjects_by_recipient(smtp_sink)
    assert received == {m.email: [f"Welcome {m.first_name}"] for m in members}
    assert not set(received) & {p.email for p in outsiders}
    waiting = Enrollment.objects.filter(campaign=campaign, state=EnrollmentState.ACTIVE,
                                        step_key="s2", version=v1)
    wait_for(lambda: waiting.count() == 20, timeout=10, what="20 waiting at s2")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    page.reload()
    expect(page.locator('#step-s1 [data-count="entered"]')).to_have_text("20")
    expect(page.locator('#step-s2 [data-count="waiting"]')).to_have_text("20")
    screenshot("accept-scheduled-running")

    # Pause; the minute passes; the sweep runs: nothing moves, nothing is sent.
    page.click("#action-pause")
    flash(page, "paused")
    assert time_passes(waiting, 61) == 20
    assert waiting.filter(next_due_at__lte=timezone.now()).count() == 20  # due, yet held
    cron_tick()
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 20
    assert waiting.count() == 20  # the due work stays where it was
    assert not Delivery.objects.filter(campaign_step__key="s4").exists()

    # Version 2: the follow-up gets another template (another subject); v1 stays as it was.
    page.click("#new-version")
    page.wait_for_url("**/designer/?v=2")
    page.wait_for_load_state()
    page.click("#step-s4 .box-name")
    page.select_option("#id_step-template", label="Follow-up v2 (Email)")
    _save_step(page)
    expect(page.locator("#step-s4")).to_contain_text("Follow-up v2")
    page.click("#action-publish")
    flash(page, "paused")  # publishing a version does not resume
    campaign.refresh_from_db()
    v2 = campaign.versions.get(number=2)
    assert campaign.current_version == v2 and campaign.status == CampaignStatus.PAUSED
    assert v1.steps.get(key="s4").template.name == "Follow-up"
    assert v2.steps.get(key="s4").template.name == "Follow-up v2"
    expect(page.locator("#version-1")).to_contain_text("20")  # in flight on v1
    screenshot("accept-scheduled-version-2")

    # Resume, without moving anyone: the 20 finish version 1 (its follow-up subject).
    page.click("#action-resume")
    flash(page, "running")
    cron_tick()
    wait_for(lambda: len(smtp_sink.messages) >= 28, timeout=20, what="8 follow-ups",
             worker=rq_worker)
    cron_tick()  # one more sweep: nothing left to send
    time.sleep(0.5)
    expected = {m.email: [f"Welcome {m.first_name}"] for m in members}
    for m in buyers:
        expected[m.email] = sorted([f"Welcome {m.first_name}",
                                    f"Thanks for buying, {m.first_name}"])
    assert subjects_by_recipient(smtp_sink) == expected
    assert_no_message_twice(smtp_sink)
    enrollments = Enrollment.objects.filter(campaign=campaign)
    assert enrollments.count() == 20
    assert set(enrollments.values_list("version", "state")) == {(v1.pk, EnrollmentState.COMPLETED)}
    visits = Counter(StepVisit.objects.filter(campaign=campaign)
                     .values_list("step__key", "outcome"))
    assert visits == Counter({("s1", "next"): 20, ("s2", "next"): 20, ("s3", "yes"): 8,
                              ("s3", "no"): 12, ("s4", "next"): 8})
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED,
             timeout=10, what="the campaign to complete")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/designer/?v=1")
    expect(page.locator("h1, h2").first).to_contain_text("Completed")
    screenshot("accept-scheduled-completed")
    print(f"\nscheduled campaign acceptance: {time.monotonic() - started:.1f} s")


# --- 2. a real-time event-triggered journey ----------------------------------------------


def post_event(page, live_server, token: str, name: str, external_id: str) -> float:
    """POST one event to the ingestion API; returns the monotonic time it was sent."""
    sent = time.monotonic()
    response = page.request.post(f"{live_server.url}/api/v1/events",
                                 headers={"Authorization": f"Bearer {token}"},
                                 data={"name": name, "external_id": external_id,
                                       "properties": {"total": 42}})
    assert response.status == 201, response.text()
    return sent


def test_event_journey_designed_published_paused_edited_and_resumed(
    page, live_server, marketer_login, rq_worker, smtp_sink, screenshot  # noqa: F811
):
    started = time.monotonic()
    shoppers = {i: ProfileFactory(external_id=f"shop-{i}", email=f"shop{i}@example.com",
                                  first_name=f"Shopper{i}") for i in range(1, 6)}
    email_template("Cart", "{{ profile.first_name }}, your cart is waiting")
    email_template("Reminder", "Last call, {{ profile.first_name }}")
    email_template("Reminder v2", "V2: 10% off your cart, {{ profile.first_name }}")
    _, token = api_token_create(name="shop", scopes=["events:write"])
    log_in(page, live_server, "maria")

    # Settings: enters on "cart_abandoned".
    page.click("#new-journey")
    page.fill("#id_name", "Cart rescue")
    page.check("input[name=entry_kind][value=event]")
    page.fill("#id_entry_event", "cart_abandoned")
    page.click("#save-settings")
    page.wait_for_url("**/designer/")
    page.wait_for_load_state()
    campaign = Campaign.objects.get(name="Cart rescue")

    # Design: send → wait for "order_completed" (an hour at most) → event: exit /
    # timeout: the reminder.
    _add(page, ":", "send_message")
    page.select_option("#id_step-template", label="Cart (Email)")
    _save_step(page)
    _add(page, "s1:next", "wait")
    page.check('input[name="step-mode"][value=event]')
    page.fill("#id_step-event", "order_completed")
    page.fill("#id_step-timeout_amount", "1")
    page.select_option("#id_step-timeout_unit", "hours")
    _save_step(page)
    _add(page, "s2:event", "exit")
    _save_step(page)
    _add(page, "s2:timeout", "send_message")
    page.select_option("#id_step-template", label="Reminder (Email)")
    _save_step(page)
    expect(page.locator("#problems")).to_contain_text("ready to publish")
    v1 = campaign.versions.get()
    assert {s.key: (s.kind, s.exits) for s in v1.steps.all()} == {
        "s1": ("send_message", {"next": "s2"}),
        "s2": ("wait", {"event": "s3", "timeout": "s4"}),
        "s3": ("exit", {}), "s4": ("send_message", {"next": None}),
    }
    assert v1.steps.get(key="s2").config == {"mode": "event", "event": "order_completed",
                                             "where": [], "timeout_seconds": 3600}

    # Simulate the path one shopper would take.
    page.fill('#simulate-form input[name="profile"]', "shop1@example.com")
    page.click("#simulate")
    expect(page.locator("#sim-path")).to_contain_text("s1")
    expect(page.locator("#step-s1.on-path")).to_have_count(1)
    screenshot("accept-event-simulated")
    assert not Delivery.objects.exists()

    page.click("#action-publish")
    flash(page, "running")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING and campaign.current_version == v1
    screenshot("accept-event-published")

    # Real time: four carts abandoned through the API; each email reaches the sink fast.
    latencies = {}
    for i in (1, 2, 3, 4):
        sent = post_event(page, live_server, token, "cart_abandoned", f"shop-{i}")
        address = shoppers[i].email
        wait_for(lambda a=address: a in smtp_sink.by_recipient(), timeout=10,
                 what=f"the cart email to {address}", worker=rq_worker)
        latencies[i] = time.monotonic() - sent
    print("\nevent → email in the SMTP sink: "
          + ", ".join(f"shop-{i} {s * 1000:.0f} ms" for i, s in latencies.items()))
    assert max(latencies.values()) < 10
    assert subjects_by_recipient(smtp_sink) == {
        shoppers[i].email: [f"Shopper{i}, your cart is waiting"] for i in (1, 2, 3, 4)}

    # Shopper 1 completes the order: leaves by the "event" exit, no reminder.
    post_event(page, live_server, token, "order_completed", "shop-1")
    one = Enrollment.objects.filter(campaign=campaign, profile=shoppers[1])
    wait_for(lambda: one.get().state != EnrollmentState.ACTIVE, timeout=10,
             what="shopper 1 to leave", worker=rq_worker)
    assert one.get().step_key == "s3"
    page.reload()
    expect(page.locator('#step-s2 [data-count="waiting"]')).to_have_text("3")
    screenshot("accept-event-running")

    # Pause. A new cart abandoned meanwhile does not enter a paused journey (the product
    # takes no entries while paused, and does not replay them at resume).
    page.click("#action-pause")
    flash(page, "paused")
    post_event(page, live_server, token, "cart_abandoned", "shop-5")
    # Shopper 2 completes the order while paused: woken, but held where it is.
    post_event(page, live_server, token, "order_completed", "shop-2")
    events_drained()
    assert not Enrollment.objects.filter(campaign=campaign, profile=shoppers[5]).exists()
    held = Enrollment.objects.filter(campaign=campaign, state=EnrollmentState.ACTIVE,
                                     step_key="s2")
    assert set(held.values_list("profile__external_id", flat=True)) == {
        "shop-2", "shop-3", "shop-4"}
    # Shoppers 3 and 4 reach their hour's timeout while paused; the sweep holds them too.
    assert time_passes(held.filter(profile__in=[shoppers[3], shoppers[4]]), 3601) == 2
    assert held.filter(next_due_at__lte=timezone.now()).count() == 3  # all due, yet held
    cron_tick()
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 4
    assert held.count() == 3

    # Version 2: the reminder gets another template; publish it (still paused).
    page.click("#new-version")
    page.wait_for_url("**/designer/?v=2")
    page.wait_for_load_state()
    page.click("#step-s4 .box-name")
    page.select_option("#id_step-template", label="Reminder v2 (Email)")
    _save_step(page)
    page.click("#action-publish")
    flash(page, "paused")
    campaign.refresh_from_db()
    v2 = campaign.versions.get(number=2)
    assert campaign.current_version == v2 and campaign.status == CampaignStatus.PAUSED

    # Move the three in flight to version 2 (their step s2 exists there), then resume.
    page.click("#move-v1")
    flash(page, "Moved 3 enrollment(s) from version 1 to version 2")
    assert set(held.values_list("version", flat=True)) == {v2.pk}
    screenshot("accept-event-version-2")
    page.click("#action-resume")
    flash(page, "running")
    cron_tick()
    wait_for(lambda: len(smtp_sink.messages) >= 6, timeout=20, what="two reminders",
             worker=rq_worker)

    # A new cart after the resume enters version 2 at once.
    sent = post_event(page, live_server, token, "cart_abandoned", "shop-5")
    wait_for(lambda: shoppers[5].email in smtp_sink.by_recipient(), timeout=10,
             what="shopper 5's cart email", worker=rq_worker)
    print(f"after resume: event → email {(time.monotonic() - sent) * 1000:.0f} ms")
    cron_tick()
    time.sleep(0.5)

    cart = "{}, your cart is waiting"
    assert subjects_by_recipient(smtp_sink) == {
        shoppers[1].email: [cart.format("Shopper1")],
        shoppers[2].email: [cart.format("Shopper2")],
        shoppers[3].email: sorted([cart.format("Shopper3"), "V2: 10% off your cart, Shopper3"]),
        shoppers[4].email: sorted([cart.format("Shopper4"), "V2: 10% off your cart, Shopper4"]),
        shoppers[5].email: [cart.format("Shopper5")],
    }
    assert_no_message_twice(smtp_sink)
    states = {e.profile.external_id: (e.version.number, e.step_key, e.state)
              for e in Enrollment.objects.filter(campaign=campaign).select_related(
                  "profile", "version")}
    assert states["shop-1"][:2] == (1, "s3") and states["shop-2"][:2] == (2, "s3")
    assert states["shop-3"] == states["shop-4"] == (2, "s4", EnrollmentState.COMPLETED)
    assert states["shop-5"][:2] == (2, "s2") and states["shop-5"][2] == EnrollmentState.ACTIVE
    assert Profile.objects.count() == 5  # the API made no stray profile
    page.reload()
    expect(page.locator('#step-s4 [data-count="entered"]')).to_have_text("2")
    screenshot("accept-event-resumed")
    print(f"event journey acceptance: {time.monotonic() - started:.1f} s")

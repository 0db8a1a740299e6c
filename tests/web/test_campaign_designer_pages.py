"""The journey pages: campaign list, settings, the designer and its in-place operations,
simulation, lifecycle buttons and versions — through the Django test client."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignStatus, Enrollment, StepVisit
from campaigns.versions import draft_version, graph_save
from channels.message_templates import template_save
from tests.factories import CampaignFactory, ProfileFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def template():
    return template_save(name="Welcome mail", channel="email", kind="transactional",
                         content={"subject": "Hi {{ profile.first_name }}",
                                  "html": "<p>Hello {{ profile.first_name }}</p>"})


@pytest.fixture
def journey():
    return CampaignFactory(name="Onboarding", entry_kind="event", entry_event="signed_up",
                           segment=None)


def _graph(template) -> dict:
    return {"start": "s1", "steps": [
        {"key": "s1", "kind": "send_message", "template": template.pk, "exits": {"next": "s2"}},
        {"key": "s2", "kind": "wait", "config": {"mode": "duration", "seconds": 86400},
         "exits": {"next": None}},
    ]}


def _steps(campaign: Campaign) -> dict:
    version = campaign.versions.get(published_at__isnull=True)
    return {s.key: (s.kind, s.exits) for s in version.steps.all()}


def _urls(pk: int) -> list[tuple[str, str]]:
    return [
        ("get", reverse("campaign_settings_new")),
        ("get", reverse("campaign_settings", args=[pk])),
        ("get", reverse("campaign_designer", args=[pk])),
        ("get", reverse("campaign_flow", args=[pk])),
        ("get", reverse("campaign_step_new", args=[pk])),
        ("get", reverse("campaign_step_edit", args=[pk, "s1"])),
        ("post", reverse("campaign_step_delete", args=[pk, "s1"])),
        ("post", reverse("campaign_step_move", args=[pk, "s1"])),
        ("post", reverse("campaign_step_link", args=[pk, "s1"])),
        ("post", reverse("campaign_step_start", args=[pk, "s1"])),
        ("post", reverse("campaign_simulate", args=[pk])),
        ("post", reverse("campaign_lifecycle", args=[pk, "publish"])),
        ("post", reverse("campaign_version_new", args=[pk])),
        ("post", reverse("campaign_version_move", args=[pk, 1])),
    ]


def test_every_journey_page_needs_a_login(client, journey):
    for method, url in _urls(journey.pk):
        response = getattr(client, method)(url)

        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_every_journey_page_needs_the_marketer_permissions(client, journey):
    client.force_login(UserFactory(username="outsider"))

    for method, url in _urls(journey.pk):
        assert getattr(client, method)(url).status_code == 403, url
    assert Campaign.objects.get().status == CampaignStatus.DRAFT


def test_the_list_shows_entry_status_next_run_and_key_numbers(marketer_client, journey):
    version = draft_version(journey)
    profiles = ProfileFactory.create_batch(3)
    for i, profile in enumerate(profiles):
        Enrollment.objects.create(campaign=journey, version=version, profile=profile,
                                  entry_key="once", step_key="s1",
                                  state="active" if i else "completed")

    response = marketer_client.get(reverse("campaign_list"))

    row = response.content.decode().split(f'data-campaign="{journey.pk}"')[1].split("</tr>")[0]
    cells = [c.split(">", 1)[1] for c in row.split("<td")[1:]]
    assert "On event “signed_up”" in cells[0 + 1]
    assert cells[4].startswith("3") and cells[5].startswith("2")  # enrolled, in journey
    assert reverse("campaign_designer", args=[journey.pk]) in row


def test_the_list_filters_by_status(marketer_client, journey):
    CampaignFactory(name="Old news", status=CampaignStatus.ARCHIVED)

    response = marketer_client.get(reverse("campaign_list"), {"status": "archived"})

    assert b"Old news" in response.content and b"Onboarding" not in response.content


def test_creating_a_journey_with_a_weekly_audience_schedule(marketer_client):
    segment, excluded = SegmentFactory(name="Members"), SegmentFactory(name="Staff")

    response = marketer_client.post(reverse("campaign_settings_new"), {
        "name": "Weekly digest", "priority": 0, "entry_kind": "audience",
        "segment": segment.pk, "excluded_segments": [excluded.pk], "frequency": "weekly",
        "run_time": "09:30", "run_days": ["1", "7"], "reentry": "always", "goal_days": 7,
        "holdout_percent": 10, "send_window_start": "08:00", "send_window_end": "20:00",
        "send_window_days": ["1", "2"],
    })

    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaign_designer", args=[campaign.pk])
    assert (campaign.recurrence, campaign.holdout_percent) == ("30 9 * * 0,1", 10)
    assert list(campaign.excluded_segments.all()) == [excluded]
    assert campaign.send_window_days == [1, 2]
    page = marketer_client.get(reverse("campaign_settings", args=[campaign.pk])).content
    assert b'value="weekly" selected' in page and b'value="09:30"' in page


def test_an_event_entry_needs_its_event_and_a_bad_filter_is_refused(marketer_client):
    response = marketer_client.post(reverse("campaign_settings_new"), {
        "name": "Real time", "priority": 0, "entry_kind": "event", "entry_event": "",
        "entry_event_filter": "[{not json", "frequency": "once", "reentry": "never",
        "goal_days": 7, "holdout_percent": 0,
    })

    assert response.status_code == 200
    assert b"An event entry needs the event" in response.content
    assert b"Not JSON" in response.content
    assert not Campaign.objects.exists()


def test_the_designer_draws_the_draft_with_a_plus_on_every_exit(marketer_client, journey,
                                                                template):
    graph_save(draft_version(journey), _graph(template))

    page = marketer_client.get(reverse("campaign_designer", args=[journey.pk])).content.decode()

    assert 'id="step-s1"' in page and 'id="step-s2"' in page
    assert "Welcome mail (email)" in page and "1 day" in page
    assert 'data-place="s1:next"' in page and 'data-place="s2:next"' in page
    assert 'id="action-publish"' in page


def test_adding_a_step_on_an_exit_through_the_kind_picker(marketer_client, journey, template):
    graph_save(draft_version(journey), _graph(template))
    url = reverse("campaign_step_new", args=[journey.pk])

    picker = marketer_client.get(url, {"after": "s1", "exit": "next"}, **HX)
    form = marketer_client.get(url, {"after": "s1", "exit": "next", "kind": "condition"}, **HX)
    response = marketer_client.post(url, {
        "after": "s1", "exit": "next", "kind": "condition", "step-name": "Bought?",
        "step-mode": "event", "step-event": "purchase", "step-within_days": "7",
    }, **HX)

    assert b'id="kind-condition"' in picker.content
    assert b'id="step-form"' in form.content
    assert response.status_code == 200 and b'id="designer-body"' in response.content
    steps = _steps(journey)
    assert steps["s1"][1] == {"next": "s3"}
    assert steps["s3"] == ("condition", {"yes": "s2", "no": None})


def test_a_step_form_with_errors_is_shown_again(marketer_client, journey):
    response = marketer_client.post(reverse("campaign_step_new", args=[journey.pk]), {
        "kind": "wait", "step-mode": "event", "step-event": "",
    }, **HX)

    assert b"Required for this kind of wait." in response.content
    assert _steps(journey) == {}


def test_editing_deleting_moving_and_linking_steps(marketer_client, journey, template):
    graph_save(draft_version(journey), _graph(template))
    pk = journey.pk

    marketer_client.post(reverse("campaign_step_edit", args=[pk, "s2"]), {
        "step-name": "Two days", "step-mode": "duration", "step-amount": "2",
        "step-unit": "days"}, **HX)
    assert draft_version(journey).steps.get(key="s2").config == {"mode": "duration",
                                                                  "seconds": 172800}

    marketer_client.post(reverse("campaign_step_move", args=[pk, "s2"]), {"place": "|"}, **HX)
    assert _steps(journey) == {"s2": ("wait", {"next": "s1"}), "s1": ("send_message",
                                                                     {"next": None})}
    assert draft_version(journey).start_key == "s2"

    marketer_client.post(reverse("campaign_step_start", args=[pk, "s1"]), **HX)
    assert draft_version(journey).start_key == "s1"

    marketer_client.post(reverse("campaign_step_link", args=[pk, "s2"]),
                         {"exit": "next", "target": ""}, **HX)
    marketer_client.post(reverse("campaign_step_link", args=[pk, "s1"]),
                         {"exit": "next", "target": "s2"}, **HX)
    refused = marketer_client.post(reverse("campaign_step_link", args=[pk, "s2"]),
                                   {"exit": "next", "target": "s1"}, **HX)
    assert b"loop" in refused.content
    assert _steps(journey) == {"s1": ("send_message", {"next": "s2"}),
                               "s2": ("wait", {"next": None})}

    marketer_client.post(reverse("campaign_step_delete", args=[pk, "s1"]), **HX)
    assert _steps(journey) == {"s2": ("wait", {"next": None})}
    assert draft_version(journey).start_key == "s2"


def test_validation_problems_show_on_the_offending_step(marketer_client, journey, template):
    graph = _graph(template)
    graph["steps"][1]["config"]["seconds"] = 200 * 86400
    graph_save(draft_version(journey), graph)

    page = marketer_client.get(reverse("campaign_designer", args=[journey.pk])).content.decode()

    box = page.split('id="step-s2"')[1].split('class="fnode"')[0]
    assert "has-problems" in page.split('id="step-s2"')[0].rsplit("<div", 1)[1]
    assert "box-problems" in box and "90" in box
    assert "box-problems" not in page.split('id="step-s1"')[1].split('id="step-s2"')[0]


def test_simulation_counts_show_on_the_steps(marketer_client, template):
    segment = SegmentFactory()  # plan is pro
    ProfileFactory.create_batch(3, attributes={"plan": "pro"})
    ProfileFactory(attributes={"plan": "free"})
    campaign = CampaignFactory(segment=segment, entry_kind="audience")
    graph_save(draft_version(campaign), _graph(template))

    response = marketer_client.post(reverse("campaign_simulate", args=[campaign.pk]), **HX)

    body = response.content.decode()
    assert '<dd data-sim="audience">3</dd>' in body
    assert '<dd data-sim="entered">3</dd>' in body.split('id="step-s2"')[1]


def test_publishing_an_invalid_draft_is_refused_with_the_problems_on_the_steps(
    marketer_client, journey
):
    graph_save(draft_version(journey), {"start": "s1", "steps": [
        {"key": "s1", "kind": "send_message", "template": None, "exits": {"next": None}}]})

    response = marketer_client.post(reverse("campaign_lifecycle", args=[journey.pk, "publish"]))

    journey.refresh_from_db()
    assert response.status_code == 400
    assert journey.status == CampaignStatus.DRAFT
    assert "has-problems" in response.content.decode().split('id="step-s1"')[0][-200:]


def test_publish_pause_resume_and_a_new_version(marketer_client, journey, template, redis_conn):
    graph_save(draft_version(journey), _graph(template))
    pk = journey.pk

    marketer_client.post(reverse("campaign_lifecycle", args=[pk, "publish"]))
    journey.refresh_from_db()
    assert journey.status == CampaignStatus.RUNNING
    assert journey.current_version.number == 1

    marketer_client.post(reverse("campaign_lifecycle", args=[pk, "pause"]))
    journey.refresh_from_db()
    assert journey.status == CampaignStatus.PAUSED
    marketer_client.post(reverse("campaign_lifecycle", args=[pk, "resume"]))
    journey.refresh_from_db()
    assert journey.status == CampaignStatus.RUNNING

    response = marketer_client.post(reverse("campaign_version_new", args=[pk]))
    assert response["Location"].endswith("?v=2")
    assert journey.versions.get(number=2).published_at is None
    marketer_client.post(reverse("campaign_step_delete", args=[pk, "s2"]), **HX)
    assert journey.versions.get(number=1).steps.count() == 2  # the running one is untouched
    marketer_client.post(reverse("campaign_lifecycle", args=[pk, "publish"]))
    journey.refresh_from_db()
    assert journey.current_version.number == 2


def test_a_running_campaign_shows_live_counts_on_its_steps(marketer_client, journey, template,
                                                          redis_conn):
    from django.utils import timezone

    graph_save(draft_version(journey), _graph(template))
    marketer_client.post(reverse("campaign_lifecycle", args=[journey.pk, "publish"]))
    journey.refresh_from_db()
    version = journey.current_version
    s1, s2 = version.steps.get(key="s1"), version.steps.get(key="s2")
    now = timezone.now()
    for profile in ProfileFactory.create_batch(2):
        enrollment = Enrollment.objects.create(campaign=journey, version=version,
                                               profile=profile, entry_key="once",
                                               step_key="s2")
        StepVisit.objects.create(enrollment=enrollment, step=s1, campaign=journey,
                                 entered_at=now, left_at=now, outcome="next")
        StepVisit.objects.create(enrollment=enrollment, step=s2, campaign=journey,
                                 entered_at=now)

    flow = marketer_client.get(reverse("campaign_flow", args=[journey.pk])).content.decode()

    s1_box, s2_box = flow.split('id="step-s1"')[1], flow.split('id="step-s2"')[1]
    assert 'hx-trigger="every 5s"' in flow
    assert '<dd data-count="passed">2</dd>' in s1_box.split('id="step-s2"')[0]
    assert '<dd data-count="waiting">2</dd>' in s2_box
    assert 'data-place=' not in flow  # a published version is read-only


def test_moving_in_flight_enrollments_to_the_current_version(marketer_client, journey, template,
                                                            redis_conn):
    graph_save(draft_version(journey), _graph(template))
    marketer_client.post(reverse("campaign_lifecycle", args=[journey.pk, "publish"]))
    journey.refresh_from_db()
    v1 = journey.current_version
    Enrollment.objects.create(campaign=journey, version=v1, profile=ProfileFactory(),
                              entry_key="once", step_key="s2")
    marketer_client.post(reverse("campaign_version_new", args=[journey.pk]))
    marketer_client.post(reverse("campaign_lifecycle", args=[journey.pk, "publish"]))

    page = marketer_client.get(reverse("campaign_designer", args=[journey.pk])).content
    response = marketer_client.post(reverse("campaign_version_move", args=[journey.pk, 1]),
                                    follow=True)

    assert b'id="move-v1"' in page
    assert b"Moved 1 enrollment(s)" in response.content
    assert Enrollment.objects.get().version.number == 2


def test_simulating_one_profile_shows_its_path(marketer_client, template):
    campaign = CampaignFactory(segment=SegmentFactory(), entry_kind="audience")
    graph_save(draft_version(campaign), _graph(template))
    ProfileFactory(external_id="ada-1", attributes={"plan": "pro"})

    response = marketer_client.post(reverse("campaign_simulate", args=[campaign.pk]),
                                    {"profile": "ada-1"}, **HX)
    unknown = marketer_client.post(reverse("campaign_simulate", args=[campaign.pk]),
                                   {"profile": "nobody"}, **HX)

    path = response.content.decode().split('id="sim-path"')[1].split("</ol>")[0]
    assert path.index("#step-s1") < path.index("#step-s2")
    assert "on-path" in response.content.decode().split('id="step-s1"')[0][-120:]
    assert "No profile matches “nobody”." in unknown.content.decode()


def test_an_audience_journey_read_later_is_scheduled_when_published(marketer_client, template,
                                                                    redis_conn):
    segment = SegmentFactory()
    marketer_client.post(reverse("campaign_settings_new"), {
        "name": "Monthly", "priority": 0, "entry_kind": "audience", "segment": segment.pk,
        "frequency": "daily", "run_time": "08:00", "scheduled_at": "2031-01-01T00:00",
        "reentry": "always", "goal_days": 7, "holdout_percent": 0,
    })
    campaign = Campaign.objects.get()
    graph_save(draft_version(campaign), _graph(template))

    marketer_client.post(reverse("campaign_lifecycle", args=[campaign.pk, "publish"]))

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.recurrence == "0 8 * * *"
    assert (campaign.next_run_at.year, campaign.next_run_at.hour) == (2031, 8)
    listed = marketer_client.get(reverse("campaign_list")).content.decode()
    assert "Jan 1, 08:00" in listed
    page = marketer_client.get(reverse("campaign_designer", args=[campaign.pk])).content
    assert b'id="action-unschedule"' in page and b'id="new-version"' in page


def test_an_archived_campaign_opens_read_only(marketer_client):
    campaign = CampaignFactory(status=CampaignStatus.ARCHIVED)

    page = marketer_client.get(reverse("campaign_designer", args=[campaign.pk])).content

    assert b"No step yet" in page
    assert b'class="plus"' not in page and b'id="action-' not in page
    assert not campaign.versions.exists()

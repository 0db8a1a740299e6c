"""A marketer designs a journey in the browser: settings, seven boxes with a condition and a
split, a validation error seen on its step and fixed, a simulation, then publish."""

import pytest
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignStatus
from channels.message_templates import template_save
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_marketer_flow import log_in
from tests.factories import EventFactory, ProfileFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer_login(marketers_group):
    user = UserFactory(username="maria")
    user.groups.add(marketers_group)
    return user


@pytest.fixture
def templates():
    def make(name: str):
        return template_save(name=name, channel="email", kind="transactional",
                             content={"subject": f"{name} {{{{ profile.first_name }}}}",
                                      "html": "<p>Hello {{ profile.first_name }}</p>"})

    return {name: make(name) for name in ("Welcome", "Offer A", "Offer B")}


def _draft_steps(campaign: Campaign) -> dict:
    version = campaign.versions.get(published_at__isnull=True)
    return {s.key: (s.kind, s.exits) for s in version.steps.all()}


def _add(page, place: str, kind: str) -> None:
    """Press the "+" on an exit ("s1:next", ":" for the start) and pick a kind."""
    page.click(f'button.plus[data-place="{place}"]')
    page.click(f"#kind-{kind}")
    expect(page.locator("#step-form")).to_be_visible()


def _save_step(page) -> None:
    page.click("#save-step")
    expect(page.locator("#step-form")).to_have_count(0)


def test_marketer_designs_simulates_and_publishes_a_journey(
    page, live_server, marketer_login, templates, screenshot, redis_conn
):
    for profile in ProfileFactory.create_batch(3):
        EventFactory(profile=profile, name="signed_up")
    log_in(page, live_server, "maria")

    # Settings: an event-triggered journey.
    page.click("#new-journey")
    page.fill("#id_name", "Welcome journey")
    page.check('input[name=entry_kind][value=event]')
    expect(page.locator("#id_entry_event")).to_be_visible()
    expect(page.locator("#id_extra_segments")).to_be_hidden()
    page.fill("#id_entry_event", "signed_up")
    page.fill("#id_goal_event", "purchase")
    screenshot("journey-settings")
    page.click("#save-settings")
    page.wait_for_url("**/designer/")
    page.wait_for_load_state()
    campaign = Campaign.objects.get(name="Welcome journey")
    assert (campaign.entry_kind, campaign.entry_event, campaign.goal_event) == (
        "event", "signed_up", "purchase")

    # s1: send the welcome message.
    _add(page, ":", "send_message")
    page.select_option("#id_step-template", label="Welcome (Email)")
    _save_step(page)
    expect(page.locator("#step-s1")).to_contain_text("Welcome (email)")
    assert _draft_steps(campaign) == {"s1": ("send_message", {"next": None})}

    # s2: a wait of 200 days — past the 90-day limit, shown on the step.
    _add(page, "s1:next", "wait")
    page.fill("#id_step-amount", "200")
    _save_step(page)
    expect(page.locator("#step-s2.has-problems .box-problems")).to_contain_text("90")
    expect(page.locator("#step-s1.has-problems")).to_have_count(0)
    screenshot("journey-wait-error")
    assert campaign.versions.get().steps.get(key="s2").config["seconds"] == 200 * 86400

    # Fixed in its side panel: two days.
    page.click("#step-s2 .box-name")
    page.fill("#id_step-amount", "2")
    _save_step(page)
    expect(page.locator("#step-s2.has-problems")).to_have_count(0)
    assert campaign.versions.get().steps.get(key="s2").config == {"mode": "duration",
                                                                   "seconds": 172800}

    # s3: did they buy within 7 days?
    _add(page, "s2:next", "condition")
    page.check('input[name="step-mode"][value=event]')
    page.fill("#id_step-event", "purchase")
    page.fill("#id_step-within_days", "7")
    _save_step(page)
    # yes: s4 an A/B split with a send on each branch; no: s7 exit.
    _add(page, "s3:yes", "split")
    expect(page.locator("#id_step-branches")).to_have_value("A 50\nB 50")
    _save_step(page)
    _add(page, "s4:A", "send_message")
    page.select_option("#id_step-template", label="Offer A (Email)")
    _save_step(page)
    _add(page, "s4:B", "send_message")
    page.select_option("#id_step-template", label="Offer B (Email)")
    _save_step(page)
    _add(page, "s3:no", "exit")
    _save_step(page)
    expect(page.locator("#problems")).to_contain_text("ready to publish")
    screenshot("journey-designed")
    assert _draft_steps(campaign) == {
        "s1": ("send_message", {"next": "s2"}),
        "s2": ("wait", {"next": "s3"}),
        "s3": ("condition", {"yes": "s4", "no": "s7"}),
        "s4": ("split", {"A": "s5", "B": "s6"}),
        "s5": ("send_message", {"next": None}),
        "s6": ("send_message", {"next": None}),
        "s7": ("exit", {}),
    }
    version = campaign.versions.get()
    assert version.start_key == "s1"
    assert version.steps.get(key="s5").template == templates["Offer A"]

    # Simulate: the three who signed up lately would enter and get the welcome message.
    page.click("#simulate")
    expect(page.locator('#sim-summary [data-sim="audience"]')).to_have_text("3")
    expect(page.locator('#step-s1 [data-sim="entered"]')).to_have_text("3")
    expect(page.locator('#step-s1 [data-sim="sent"]')).to_have_text("3")
    screenshot("journey-simulated")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT

    # Publish: running, version 1 current and frozen.
    page.click("#action-publish")
    expect(page.locator(".messages")).to_contain_text("running")
    expect(page.locator("#action-pause")).to_be_visible()
    expect(page.locator("button.plus")).to_have_count(0)
    expect(page.locator('#step-s1 [data-count="entered"]')).to_have_text("0")
    screenshot("journey-published")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.current_version == version
    version.refresh_from_db()
    assert version.is_published


def test_designer_fits_a_phone_screen(browser, live_server, marketer_login, templates):
    campaign = Campaign.objects.create(name="Phone", entry_kind="event", entry_event="x")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        log_in(page, live_server, "maria")
        page.goto(f"{live_server.url}/campaigns/{campaign.pk}/designer/")
        page.wait_for_load_state()
        _add(page, ":", "condition")
        page.fill("#id_step-event", "purchase")
        _save_step(page)
        _add(page, "s1:yes", "split")
        _save_step(page)
        for path in (f"/campaigns/{campaign.pk}/designer/", f"/campaigns/{campaign.pk}/settings/",
                     "/campaigns/journey/new/", "/campaigns/"):
            page.goto(f"{live_server.url}{path}")
            overflow = page.evaluate("document.body.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        page.goto(f"{live_server.url}/campaigns/{campaign.pk}/designer/")
        page.screenshot(path=str(ARTIFACTS / "journey-designer-phone.png"), full_page=True)
    finally:
        context.close()


def test_marketer_pauses_edits_a_new_version_and_resumes(
    page, live_server, marketer_login, templates, screenshot, redis_conn
):
    from campaigns.lifecycle import publish
    from campaigns.models import Enrollment, StepVisit
    from campaigns.versions import draft_version, graph_save

    campaign = Campaign.objects.create(name="Cart reminder", entry_kind="event",
                                       entry_event="cart_abandoned")
    graph_save(draft_version(campaign), {"start": "s1", "steps": [
        {"key": "s1", "kind": "wait", "config": {"mode": "duration", "seconds": 3600},
         "exits": {"next": "s2"}},
        {"key": "s2", "kind": "send_message", "template": templates["Welcome"].pk,
         "exits": {"next": None}},
    ]})
    publish(campaign, marketer_login)
    v1 = Campaign.objects.get(pk=campaign.pk).current_version
    enrollment = Enrollment.objects.create(campaign=campaign, version=v1,
                                           profile=ProfileFactory(), entry_key="once",
                                           step_key="s1")
    log_in(page, live_server, "maria")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/designer/")

    # Live counts refresh by themselves while the journey runs.
    expect(page.locator('#step-s1 [data-count="waiting"]')).to_have_text("1")
    StepVisit.objects.create(enrollment=enrollment, step=v1.steps.get(key="s1"),
                             campaign=campaign, entered_at=enrollment.entered_at)
    expect(page.locator('#step-s1 [data-count="entered"]')).to_have_text("1", timeout=12_000)

    page.click("#action-pause")
    expect(page.locator(".messages")).to_contain_text("paused")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED

    # Version 2: a copy of version 1, edited while version 1 stays as it was.
    page.click("#new-version")
    page.wait_for_url("**/designer/?v=2")
    page.wait_for_load_state()
    _add(page, "s2:next", "update_attribute")
    page.fill("#id_step-attribute", "reminded")
    page.fill("#id_step-value", "true")
    _save_step(page)
    v2 = campaign.versions.get(number=2)
    assert v2.steps.get(key="s3").config == {"attribute": "reminded", "value": True}
    assert v1.steps.count() == 2
    screenshot("journey-version-2")

    page.click("#action-publish")
    expect(page.locator(".messages")).to_contain_text("paused")
    campaign.refresh_from_db()
    assert campaign.current_version == v2 and campaign.status == CampaignStatus.PAUSED

    # The profile waiting in version 1 moves to version 2 (its step s1 is there too).
    page.click("#move-v1")
    expect(page.locator(".messages")).to_contain_text("Moved 1 enrollment")
    assert Enrollment.objects.get().version == v2

    page.click("#action-resume")
    expect(page.locator(".messages")).to_contain_text("running")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING
    screenshot("journey-resumed")

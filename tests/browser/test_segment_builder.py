"""A marketer builds a nested segment in chromium, watching the live count, and saves it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from profiles.audiences import audience_queryset
from profiles.models import Segment
from tests.browser.conftest import ARTIFACTS
from tests.factories import (
    AttributeDefinitionFactory,
    EventFactory,
    ProfileFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
PLAN_PRO = {"type": "attribute", "key": "plan", "op": "equals", "value": "pro"}
OLDER = {"type": "attribute", "key": "age", "op": "gt", "value": 30}
ORDERED = {"type": "event", "name": "order_completed", "op": "at_least", "count": 1,
           "within_days": 30}


def log_in(page, live_server, username: str, then: str) -> None:
    page.goto(f"{live_server.url}{then}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{then}")


def expect_count(page, rules: dict) -> int:
    """The live count settles on what the database says these rules match."""
    expected = audience_queryset(rules).count()
    expect(page.locator("#live-count-n")).to_have_attribute("data-count", str(expected))
    return expected


@pytest.fixture
def customers():
    AttributeDefinitionFactory(key="age", label="Age", type="number")
    AttributeDefinitionFactory(key="plan", label="Plan", type="string",
                               allowed_values=["free", "pro"])
    now = timezone.now()
    ProfileFactory(attributes={"plan": "pro", "age": 41})
    recent = ProfileFactory(attributes={"plan": "pro", "age": 22})
    EventFactory(profile=recent, name="order_completed", occurred_at=now - timedelta(days=5))
    ProfileFactory(attributes={"plan": "pro", "age": 25})
    lapsed = ProfileFactory(attributes={"plan": "pro", "age": 27})
    EventFactory(profile=lapsed, name="order_completed", occurred_at=now - timedelta(days=60))
    ProfileFactory(attributes={"plan": "free", "age": 52})
    ageless = ProfileFactory(attributes={"plan": "pro"})
    EventFactory(profile=ageless, name="order_completed", occurred_at=now - timedelta(days=1))


def test_a_marketer_builds_a_nested_segment_with_live_counts(
    page, live_server, marketers_group, customers, screenshot
):
    UserFactory(username="maria").groups.add(marketers_group)
    log_in(page, live_server, "maria", "/segments/")
    page.click("text=New segment")
    page.wait_for_url(f"{live_server.url}/segments/new/")
    page.wait_for_load_state()  # htmx listens from here on
    page.fill("#id_name", "Engaged pro customers")

    # The first condition: plan is pro.
    # (A picker that changes a row's inputs redraws the rows: each step waits for its input.)
    page.select_option('[name="r.0.key"]', "plan")
    page.select_option('select[name="r.0.value"]', "pro")
    assert expect_count(page, {"all": [PLAN_PRO]}) == 5

    # An "any" group inside "all", its first condition an attribute typed badly…
    page.click("#b-r-add-group")
    expect(page.locator('[name="r.1.kind"]')).to_have_value("any")
    page.select_option('[name="r.1.0.key"]', "age")
    page.select_option('[name="r.1.0.op"]', "gt")
    expect(page.locator('[name="r.1.0.op"]')).to_have_value("gt")
    page.fill('[name="r.1.0.value"]', "thirty")
    expect(page.locator("#b-r-1-0-errors")).to_have_text("Value: A number is needed.")
    expect(page.locator("#live-count-status")).to_contain_text("The rules are incomplete.")
    expect(page.locator('[name="r.1.0.value"]')).to_have_attribute("aria-invalid", "true")
    # (typed while the new operator redrew the row: the text survived the redraw)
    expect(page.locator('[name="r.1.0.value"]')).to_have_value("thirty")
    screenshot("segment-builder-error")

    # … then fixed: the error goes and the count follows.
    page.fill('[name="r.1.0.value"]', "30")
    expect(page.locator("#b-r-1-0-errors")).to_have_text("")
    assert expect_count(page, {"all": [PLAN_PRO, {"any": [OLDER]}]}) == 1

    # An event condition beside it, in the same "any" group.
    page.click("#b-r-1-add-condition")
    page.select_option('[name="r.1.1.kind"]', "event")
    page.fill('[name="r.1.1.name"]', "order_completed")
    page.select_option('[name="r.1.1.window"]', "days")
    page.fill('[name="r.1.1.within_days"]', "30")
    rules = {"all": [PLAN_PRO, {"any": [OLDER, ORDERED]}]}
    assert expect_count(page, rules) == 3
    assert page.locator("#live-sample li").count() == 3
    screenshot("segment-builder")

    # Saved, the segment page shows the same count and the rules in words.
    page.click("#save-segment")
    page.wait_for_url(f"{live_server.url}/segments/*/")
    assert page.inner_text("#segment-count") == "3"
    assert "did order_completed at least 1 time in the last 30 days" in page.inner_text(
        "#segment-rules")
    screenshot("segment-page")
    segment = Segment.objects.get(name="Engaged pro customers")
    assert audience_queryset(segment.rules).count() == 3
    assert segment.rules["all"][1]["any"][1]["name"] == "order_completed"


def test_the_builder_fits_a_phone_screen(browser, live_server, marketers_group, customers):
    UserFactory(username="maria").groups.add(marketers_group)
    segment = Segment.objects.create(name="Nested", rules={"all": [
        PLAN_PRO, {"any": [OLDER, {**ORDERED, "where": [
            {"property": "total", "op": "gte", "value": 100}]}]},
        {"type": "consent", "channel": "email", "op": "subscribed"},
    ]})
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        log_in(page, live_server, "maria", f"/segments/{segment.pk}/edit/")
        expect_count(page, segment.rules)

        overflow = page.evaluate("document.body.scrollWidth - window.innerWidth")

        assert overflow <= 0, f"the builder scrolls sideways by {overflow}px on a phone"
        page.screenshot(path=str(ARTIFACTS / "segment-builder-phone.png"), full_page=True)
    finally:
        context.close()

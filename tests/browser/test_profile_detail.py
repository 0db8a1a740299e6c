"""A marketer edits a typed attribute and toggles a consent on a profile's page, in chromium."""

import pytest

from profiles.models import ConsentChange, Profile
from tests.factories import (
    AttributeDefinitionFactory,
    EventFactory,
    ProfileFactory,
    TopicFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def log_in(page, live_server, username: str, then: str) -> None:
    """Open `then`, which sends to the login page first, and sign in."""
    page.goto(f"{live_server.url}{then}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{then}")


def test_a_marketer_edits_an_attribute_and_toggles_consent(
    page, live_server, marketers_group, screenshot
):
    UserFactory(username="maria").groups.add(marketers_group)
    AttributeDefinitionFactory(key="loyalty_points", label="Loyalty points", type="number")
    TopicFactory(key="newsletter", name="Newsletter", channel="email")
    profile = ProfileFactory(first_name="Léa", last_name="Martin", email="lea@example.com",
                             attributes={"loyalty_points": 10})
    EventFactory(profile=profile, name="order_completed", properties={"total": 42})
    ProfileFactory.create_batch(3)
    log_in(page, live_server, "maria", "/profiles/")
    page.fill("input[name=q]", "martin léa")
    page.click("#profile-search button[type=submit]")
    assert "1 profile matches" in page.inner_text("#profile-count")
    screenshot("profile-list-search")
    page.click("text=Léa Martin")
    page.wait_for_url(f"{live_server.url}/profiles/{profile.pk}/")
    screenshot("profile-detail")

    # A value of the wrong type is refused next to its input; a number is saved as a number.
    page.fill("#id_attr_loyalty_points", "")
    page.evaluate("document.getElementById('id_attr_loyalty_points').type = 'text'")
    page.fill("#id_attr_loyalty_points", "plenty")
    page.click("#save-profile")
    assert "Expected a number" in page.inner_text("#id_attr_loyalty_points-error")
    screenshot("profile-attribute-error")
    page.fill("#id_attr_loyalty_points", "250")
    page.click("#save-profile")
    assert "Profile saved." in page.inner_text(".messages")
    assert page.input_value("#id_attr_loyalty_points") == "250"

    # The newsletter topic: opted out from its row, shown at once, kept in the history.
    row = page.locator("#consent-email-newsletter")
    row.locator("button[value=opted_out]").click()
    assert "Consent updated." in page.inner_text(".messages")
    assert page.locator("#consent-email-newsletter .allowed").get_attribute(
        "data-allowed") == "no"
    assert page.locator("#consent-email-newsletter [data-state]").get_attribute(
        "data-state") == "opted_out"
    assert "Newsletter consent" in page.inner_text("#timeline")
    screenshot("profile-consent-toggled")

    profile = Profile.objects.get(pk=profile.pk)
    assert profile.attributes == {"loyalty_points": 250}
    change = ConsentChange.objects.get(profile=profile)
    assert (change.topic.key, change.state, change.source) == (
        "newsletter", "opted_out", "ui:maria")

"""A marketer ticks profiles on the profile list and adds them to a static list."""

import pytest
from playwright.sync_api import expect

from profiles.models import Segment, SegmentMember
from tests.factories import ProfileFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def test_marketer_adds_ticked_profiles_to_a_new_list_then_an_existing_one(
    page, live_server, marketers_group, screenshot
):
    UserFactory(username="maria").groups.add(marketers_group)
    ada = ProfileFactory(first_name="Ada", last_name="Lovelace")
    ProfileFactory(first_name="Bob", last_name="Stone")
    page.goto(f"{live_server.url}/profiles/")
    page.fill("#id_username", "maria")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/profiles/")

    # Nothing ticked: the button says so and waits.
    button = page.locator("#list-add button[type=submit]")
    expect(button).to_be_disabled()
    page.check("#select-all")
    expect(button).to_have_text("Add 2 to list")
    page.fill('#list-add [name="new_list"]', "Met at the fair")
    screenshot("profile-list-add-to-list")
    button.click()

    expect(page.locator(".flash")).to_contain_text("2 profiles added to “Met at the fair”")
    fair = Segment.objects.get(name="Met at the fair")
    assert fair.is_static and SegmentMember.objects.filter(segment=fair).count() == 2

    # The new list is now a choice; one profile goes on it again and nothing doubles.
    page.check(f'input[name="profile"][value="{ada.pk}"]')
    page.select_option('#list-add [name="segment"]', label="Met at the fair")
    page.click("#list-add button[type=submit]")

    expect(page.locator(".flash")).to_contain_text("0 profiles added to “Met at the fair”, "
                                                   "1 already on it")
    assert SegmentMember.objects.filter(segment=fair).count() == 2

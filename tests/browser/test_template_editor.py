"""A marketer writes an SMS watching its encoding and segment count, then an email they
preview for a profile in a sandboxed frame."""

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from channels.models import MessageTemplate
from tests.factories import ProfileFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def login(page, live_server, path: str) -> None:
    user = UserFactory(username="writer")
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="channels",
        codename__in=["view_messagetemplate", "add_messagetemplate", "change_messagetemplate"],
    ))
    page.goto(f"{live_server.url}{path}")
    page.fill("#id_username", "writer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{path}")


def test_the_sms_counter_follows_typing(page, live_server, screenshot):
    login(page, live_server, "/templates/new/?channel=sms")
    counter = page.locator("#sms-counter")

    page.fill("#id_content_body", "a" * 160)
    expect(counter).to_contain_text("GSM-7 · 160 characters · 1 segment")
    page.type("#id_content_body", "b")
    expect(counter).to_contain_text("GSM-7 · 161 characters · 2 segments")
    page.fill("#id_content_body", "Café ☕ offert")
    expect(counter).to_contain_text("UCS-2")
    screenshot("template-sms-counter")

    page.fill("#id_name", "Coffee")
    page.select_option("#id_kind", "transactional")
    page.click("text=Save template")
    expect(page.locator("#rendered-body")).to_have_text("Café ☕ offert")
    assert MessageTemplate.objects.get().content["body"] == "Café ☕ offert"


def test_an_email_is_previewed_for_a_profile_in_a_sandboxed_frame(page, live_server, screenshot):
    ProfileFactory(first_name="Grace", email="grace@example.com")
    login(page, live_server, "/templates/new/?channel=email")

    page.fill("#id_name", "Welcome")
    page.fill("#id_content_subject", "Welcome {{ profile.first_name }}")
    page.fill("#id_content_html", '<p>Hi {{ profile.first_name }}</p>'
              '<a href="{{ unsubscribe_url }}">Unsubscribe</a>')
    page.click("text=Save template")
    page.fill("#id_profile", "grace@example.com")
    page.click("#preview-form button[type=submit]")

    expect(page.locator("#rendered-subject")).to_have_text("Welcome Grace")
    frame = page.frame_locator("#email-frame")
    expect(frame.locator("p")).to_have_text("Hi Grace")
    assert page.locator("#email-frame").get_attribute("sandbox") == ""
    screenshot("template-email-preview")

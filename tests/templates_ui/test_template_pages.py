"""Marketer pages: list, create/edit per channel, preview for a profile, proofs, snippets."""

import pytest
from django.urls import reverse

from channels.models import Delivery, MessageTemplate, SeedList, Snippet
from tests.factories import ProfileFactory, UserFactory
from tests.message_helpers import NEWSLETTER_HTML, email_template

pytestmark = pytest.mark.django_db


def email_form(**overrides) -> dict:
    data = {
        "channel": "email", "name": "Welcome", "kind": "marketing", "topic": "", "sender": "",
        "content_subject": "Hi {{ profile.first_name }}", "content_preheader": "",
        "content_html": NEWSLETTER_HTML, "content_mjml": "", "content_text": "",
    }
    return {**data, **overrides}


def test_a_marketer_creates_an_email_template_and_lands_on_its_preview(template_client):
    response = template_client.post(reverse("template_create"), email_form())

    template = MessageTemplate.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("template_preview", args=[template.pk])
    assert template.revisions.count() == 1


def test_a_syntax_error_is_shown_on_its_field_with_the_line(template_client):
    response = template_client.post(
        reverse("template_create"), email_form(content_html="<p>a</p>\n{% if %}{% endif %}")
    )

    assert response.status_code == 200
    assert b"Line 2: " in response.content
    assert not MessageTemplate.objects.exists()


def test_the_sms_editor_has_the_live_segment_counter(template_client):
    response = template_client.get(reverse("template_create") + "?channel=sms")

    assert b'data-sms-counter="sms-counter"' in response.content
    assert b"js/sms_counter.js" in response.content


def test_editing_makes_a_new_version(template_client):
    template = email_template()

    template_client.post(reverse("template_edit", args=[template.pk]),
                         email_form(name="Renamed"))

    template.refresh_from_db()
    assert (template.name, template.version) == ("Renamed", 2)


def test_the_preview_renders_for_a_chosen_profile_in_a_sandboxed_frame(template_client):
    template = email_template()
    profile = ProfileFactory(first_name="Zoe")

    response = template_client.get(
        reverse("template_preview", args=[template.pk]), {"profile": profile.email}
    )

    assert response.status_code == 200
    assert b'<span id="rendered-subject">Hi Zoe</span>' in response.content
    assert b'<iframe sandbox=""' in response.content
    assert b"Hello Zoe" in response.content  # inside srcdoc, escaped as an attribute


def test_a_proof_is_sent_to_the_seed_list(template_client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    template = email_template()
    seeds = SeedList.objects.create(name="Team", addresses=["a@ours.example"])

    response = template_client.post(reverse("template_proof", args=[template.pk]),
                                    {"seed_list": seeds.pk, "profile": ""})

    assert response.status_code == 302
    proof = Delivery.objects.get()
    assert (proof.is_proof, proof.address, proof.status) == (True, "a@ours.example", "sent")


def test_a_snippet_is_saved_and_a_broken_one_refused(template_client):
    template_client.post(reverse("snippet_create"), {"key": "footer", "content": "<p>Bye</p>"})
    response = template_client.post(reverse("snippet_create"),
                                    {"key": "broken", "content": "{% if %}"})

    assert list(Snippet.objects.values_list("key", flat=True)) == ["footer"]
    assert b"Line 1" in response.content


def test_a_seed_list_over_100_addresses_is_refused(template_client):
    addresses = "\n".join(f"s{i}@ours.example" for i in range(101))

    response = template_client.post(reverse("seed_list_index"),
                                    {"name": "Big", "addresses": addresses})

    assert b"at most 100" in response.content
    assert not SeedList.objects.exists()


def test_the_pages_need_the_template_permissions(client):
    client.force_login(UserFactory(username="nobody"))

    assert client.get(reverse("template_list")).status_code == 403


def test_the_list_shows_templates_and_the_nav_links_it(template_client):
    email_template()

    response = template_client.get(reverse("template_list"))

    assert b"Newsletter" in response.content
    assert b'href="/templates/" aria-current="page">Templates' in response.content


def test_unsaved_content_is_previewed_for_a_profile_without_saving(template_client):
    profile = ProfileFactory(first_name="Ivy")

    response = template_client.post(
        reverse("template_create"),
        email_form(preview="1", preview_profile=profile.email,
                   content_subject="Yo {{ profile.first_name }}"),
    )

    assert b'<span id="rendered-subject">Yo Ivy</span>' in response.content
    assert not MessageTemplate.objects.exists()

"""GDPR export and erasure through the API (scoped tokens) and the admin (actions)."""

import json

import pytest
from django.urls import reverse

from profiles.models import ApiToken, AuditLog, Profile
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

PROFILES = "/api/v1/profiles/"


def test_the_export_endpoint_streams_the_export_and_audits_the_token(api_client, person):
    response = api_client("profiles:export").get(f"{PROFILES}crm-7/export/")

    assert response.status_code == 200
    data = json.loads(b"".join(response.streaming_content))
    assert data["profile"]["id"] == person.pk
    assert len(data["events"]) == 3
    audit = AuditLog.objects.get(action="profile.export")
    assert audit.actor_token == ApiToken.objects.get()
    assert audit.actor.startswith("token tests")


def test_exporting_needs_the_export_scope(api_client, person):
    response = api_client("profiles:read", "profiles:write").get(f"{PROFILES}crm-7/export/")

    assert response.status_code == 403
    assert "profiles:export" in response.json()["detail"]
    assert not AuditLog.objects.exists()


def test_delete_erases_the_profile(api_client, person):
    response = api_client("profiles:write").delete(f"{PROFILES}{person.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["erased"], body["id"], body["removed"]["events"]) == (True, person.pk, 3)
    assert not Profile.objects.filter(pk=person.pk).exists()
    assert AuditLog.objects.get(action="profile.erase").actor_token is not None


def test_delete_needs_the_write_scope(api_client, person):
    response = api_client("profiles:read", "profiles:export").delete(f"{PROFILES}{person.pk}/")

    assert response.status_code == 403
    assert Profile.objects.filter(pk=person.pk).exists()


def test_deleting_an_unknown_profile_is_404(api_client):
    response = api_client("profiles:write").delete(f"{PROFILES}nobody/")

    assert response.status_code == 404
    assert not AuditLog.objects.exists()


@pytest.fixture
def admin_client_(client, admin_user_):
    client.force_login(admin_user_)
    return client


def test_the_admin_exports_one_profile(admin_client_, person):
    response = admin_client_.post(reverse("admin:profiles_profile_changelist"), {
        "action": "export_data", "_selected_action": [person.pk],
    })

    assert json.loads(b"".join(response.streaming_content))["profile"]["email"] == person.email
    assert AuditLog.objects.get().actor == "admin"


def test_the_admin_erases_after_a_confirmation(admin_client_, person):
    kept = ProfileFactory()
    changelist = reverse("admin:profiles_profile_changelist")
    selection = {"action": "erase", "_selected_action": [person.pk]}

    confirm = admin_client_.post(changelist, selection)
    assert Profile.objects.filter(pk=person.pk).exists()
    admin_client_.post(changelist, {**selection, "confirm": "yes"})

    assert "Yes, erase them" in confirm.content.decode()
    assert not Profile.objects.filter(pk=person.pk).exists()
    assert Profile.objects.filter(pk=kept.pk).exists()
    assert AuditLog.objects.get(action="profile.erase").actor == "admin"


def test_the_admin_never_deletes_a_profile_around_the_erasure(admin_client_, person):
    response = admin_client_.post(
        reverse("admin:profiles_profile_delete", args=[person.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert Profile.objects.filter(pk=person.pk).exists()


def test_the_profile_page_in_the_admin_shows_consent_history_and_aliases(admin_client_, person):
    html = admin_client_.get(
        reverse("admin:profiles_profile_change", args=[person.pk])
    ).content.decode()

    assert "anon-7" in html
    assert "Consent history" in html or "consent history" in html
    assert "footer" in html  # the source of a consent change

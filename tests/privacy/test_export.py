"""GDPR export: everything held about a profile, as JSON, audited."""

import json

import pytest
from django.urls import reverse

from profiles.models import AuditLog
from profiles.privacy import export_json, profile_export
from tests.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db


def exported(person, actor="tests") -> dict:
    return json.loads("".join(export_json(profile_export(profile=person, actor=actor))))


def test_the_export_holds_every_part(person):
    data = exported(person)

    assert data["profile"]["email"] == "ada@example.com"
    assert data["profile"]["attributes"] == {"plan": "pro"}
    assert [a["value"] for a in data["aliases"]] == ["anon-7"]
    assert [s["token"] for s in data["push_subscriptions"]] == ["fcm-token-7"]
    assert {(c["channel"], c["topic"], c["state"]) for c in data["consent"]["current"]} == {
        ("email", None, "opted_in"), ("email", "newsletter", "opted_out")}
    assert len(data["consent"]["history"]) == 2
    assert [e["name"] for e in data["events"]] == ["page_viewed"] * 3
    assert data["merges"][0]["merged_aliases"] == ["anon-old"]
    delivery = data["channels"]["deliveries"][0]
    assert (delivery["address"], delivery["status"]) == ("ada@example.com", "failed")
    assert delivery["log"][0]["detail"] == "rcpt ada@example.com refused"


def test_an_export_writes_an_audit_row_naming_the_user(person):
    user = UserFactory(username="dpo")

    profile_export(profile=person, actor=user)

    audit = AuditLog.objects.get()
    assert (audit.action, audit.actor_user, audit.actor, audit.target_id) == (
        "profile.export", user, "dpo", str(person.pk))


def test_events_are_read_while_the_export_is_written_one_piece_each(person):
    export = profile_export(profile=person, actor="tests")
    EventFactory(profile=person, name="late")  # after the export was prepared

    chunks = list(export_json(export))

    event_chunks = [c for c in chunks if c.lstrip(",").startswith('{"name":')]
    assert len(event_chunks) == 4
    assert json.loads("".join(chunks))["events"][-1]["name"] == "late"


def test_the_detail_page_downloads_the_export(marketer_client, person):
    response = marketer_client.post(reverse("profile_export", args=[person.pk]))

    assert response["Content-Disposition"] == f'attachment; filename="profile-{person.pk}.json"'
    data = json.loads(b"".join(response.streaming_content))
    assert data["profile"]["external_id"] == "crm-7"
    assert AuditLog.objects.get().actor == "marketer"


def test_a_get_does_not_export(marketer_client, person):
    response = marketer_client.get(reverse("profile_export", args=[person.pk]))

    assert response.status_code == 405
    assert not AuditLog.objects.exists()

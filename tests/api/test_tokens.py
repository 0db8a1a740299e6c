"""API tokens: who gets in, with which scopes, and what is stored."""

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from profiles.models import ApiToken
from profiles.services import api_token_create, api_token_revoke

PROFILES = "/api/v1/profiles/"


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.django_db
def test_a_request_without_authorization_is_401_with_a_bearer_challenge():
    response = APIClient().get(PROFILES)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
def test_an_unknown_token_is_401():
    _, secret = api_token_create(name="real", scopes=["profiles:read"])
    forged = secret[:-4] + "AAAA"

    response = bearer(forged).get(PROFILES)

    assert response.status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer not-an-itinera-token"])
def test_a_malformed_authorization_header_is_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(PROFILES)

    assert response.status_code == 401


@pytest.mark.django_db
def test_a_revoked_token_is_401():
    token, secret = api_token_create(name="old", scopes=["profiles:read"])
    api_token_revoke(token=token)

    response = bearer(secret).get(PROFILES)

    assert response.status_code == 401


@pytest.mark.django_db
def test_a_token_without_the_endpoint_scope_is_403(api_client):
    client = api_client("segments:read")

    response = client.get(PROFILES)

    assert response.status_code == 403
    assert "profiles:read" in response.json()["detail"]


@pytest.mark.django_db
def test_a_read_scope_does_not_allow_writes(api_client):
    client = api_client("profiles:read")

    response = client.post(PROFILES, {"external_id": "c-1"}, format="json")

    assert response.status_code == 403


@pytest.mark.django_db
def test_a_logged_in_session_does_not_open_the_api(client, admin_user_):
    client.force_login(admin_user_)

    response = client.get(PROFILES)

    assert response.status_code == 401


@pytest.mark.django_db
def test_the_secret_is_not_stored_only_its_hash():
    token, secret = api_token_create(name="crm", scopes=["profiles:read"])

    stored = ApiToken.objects.values().get(pk=token.pk)

    assert stored["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) for value in stored.values())


@pytest.mark.django_db
def test_a_used_token_records_when_it_was_last_used():
    token, secret = api_token_create(name="crm", scopes=["profiles:read"])

    bearer(secret).get(PROFILES)

    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.django_db
def test_the_management_command_prints_a_working_secret_once():
    out, err = StringIO(), StringIO()

    call_command(
        "create_api_token", "CRM sync", "--scope", "profiles:read", "--scope", "profiles:write",
        stdout=out, stderr=err,
    )

    secret = out.getvalue().strip()
    token = ApiToken.objects.get(name="CRM sync")
    assert token.scopes == ["profiles:read", "profiles:write"]
    assert secret.startswith(f"itn_{token.prefix}_")
    assert secret not in err.getvalue()
    assert bearer(secret).get(PROFILES).status_code == 200

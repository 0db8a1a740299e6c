"""The OpenAPI document and its Swagger UI: behind a login, with no asset from a CDN."""

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from profiles.services import api_token_create

ASSET_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@pytest.mark.django_db
def test_the_schema_is_an_openapi_document_for_a_logged_in_user(client, marketer):
    client.force_login(marketer)

    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/profiles/" in document["paths"]
    assert document["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"


@pytest.mark.django_db
def test_the_schema_is_served_to_a_token():
    _, secret = api_token_create(name="docs", scopes=["profiles:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200


@pytest.mark.django_db
def test_the_schema_is_not_public(client):
    response = client.get("/api/schema/")

    assert response.status_code in (401, 403)


@pytest.mark.django_db
def test_the_docs_load_every_asset_from_this_site(client, marketer):
    client.force_login(marketer)

    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = ASSET_URL.findall(html)
    assert any("swagger-ui" in url for url in assets)
    foreign = [u for u in assets if re.match(r"(?:https?:)?//", u) and "//testserver" not in u]
    assert foreign == []
    assert not re.search(r"https?://(?!testserver)", html)


@pytest.mark.django_db
def test_the_docs_send_a_visitor_who_is_not_logged_in_to_the_login_page(client):
    response = client.get("/api/docs/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/api/docs/"

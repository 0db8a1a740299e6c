import pytest
from rest_framework.test import APIClient

from profiles.services import api_token_create


@pytest.fixture
def api_client(db):
    """`api_client("profiles:read", ...)`: a client holding a fresh token with these scopes."""

    def make(*scopes: str) -> APIClient:
        _, secret = api_token_create(name="tests", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make

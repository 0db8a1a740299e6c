"""/healthz for load balancers: no login, no secrets, 503 when a dependency is down."""

import pytest
from django.conf import settings as django_settings

from tests.smtp import closed_port

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_when_the_database_and_redis_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_needs_no_login_and_is_never_cached(client):
    response = client.get("/healthz")

    assert response.status_code == 200  # not a redirect to the login page
    assert "no-cache" in response["Cache-Control"]


def test_healthz_reveals_no_configuration(client):
    body = client.get("/healthz").content.decode()

    db = django_settings.DATABASES["default"]
    for secret in (django_settings.SECRET_KEY, django_settings.REDIS_URL, db["NAME"],
                   db["PASSWORD"] or None, "redis://", "postgres"):
        if secret:
            assert secret not in body


def test_healthz_is_503_when_redis_is_unreachable(client, settings):
    down = f"redis://127.0.0.1:{closed_port()}/0"
    # django-rq reads RQ_QUEUES on every call and does not cache connections.
    settings.RQ_QUEUES = {name: {**config, "URL": down}
                          for name, config in settings.RQ_QUEUES.items()}

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "redis": "down"}

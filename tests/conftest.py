import django_rq
import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from tests.factories import UserFactory


@pytest.fixture
def redis_conn():
    """The Redis that RQ uses in tests, emptied of Itinera's queues before and after."""
    connection = django_rq.get_connection("default")
    _clear_queues()
    yield connection
    _clear_queues()


def _clear_queues() -> None:
    # Event ids waiting for subscribers and drain flags (profiles.ingestion.fanout): a flag
    # left by a test whose drain job was emptied away would hold back the next test's drain.
    connection = django_rq.get_connection("events")
    if keys := connection.keys("itinera:events:*"):
        connection.delete(*keys)
    for name in settings.RQ_QUEUES:
        queue = django_rq.get_queue(name)
        queue.empty()
        for registry in (queue.scheduled_job_registry, queue.failed_job_registry):
            for job_id in registry.get_job_ids():
                registry.remove(job_id, delete_job=True)


@pytest.fixture
def marketer(db):
    """A user in the Marketers group (web UI, no admin)."""
    from profiles.roles import ensure_marketer_group

    user = UserFactory(username="marketer")
    user.groups.add(ensure_marketer_group())
    return user


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def admin_user_(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def marketers_group(db) -> Group:
    from profiles.roles import ensure_marketer_group

    return ensure_marketer_group()


@pytest.fixture
def client_with(db):
    """`client_with("events:write", ...)`: an API client holding a token with these scopes
    (the token is named "shop", which is the default source of its events)."""
    from rest_framework.test import APIClient

    from profiles.services import api_token_create

    def make(*scopes: str) -> APIClient:
        _, secret = api_token_create(name="shop", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make


@pytest.fixture
def sender(client_with):
    """An integrator that sends events and identifies profiles."""
    return client_with("events:write", "profiles:write")

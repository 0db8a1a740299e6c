import pytest

from profiles.models import AttributeDefinition, Topic
from tests.api.conftest import api_client  # noqa: F401  (the token-holding client fixture)


@pytest.fixture
def schema(db):
    """A small attribute schema and a topic, as the rules in these tests use them."""
    AttributeDefinition.objects.create(key="plan", label="Plan", type="string")
    AttributeDefinition.objects.create(key="ltv", label="Lifetime value", type="number")
    AttributeDefinition.objects.create(key="signup", label="Signed up", type="date")
    Topic.objects.create(key="news", name="News")


@pytest.fixture
def reader(api_client):  # noqa: F811
    return api_client("segments:read")


@pytest.fixture
def writer(api_client):  # noqa: F811
    return api_client("segments:read", "segments:write")

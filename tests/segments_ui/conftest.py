import pytest

from tests.factories import AttributeDefinitionFactory, TopicFactory


@pytest.fixture
def schema(db):
    """Declared attributes of every type, and a topic per channel."""
    AttributeDefinitionFactory(key="plan", label="Plan", type="string",
                               allowed_values=["free", "pro"])
    AttributeDefinitionFactory(key="city", label="City", type="string")
    AttributeDefinitionFactory(key="age", label="Age", type="number")
    AttributeDefinitionFactory(key="vip", label="VIP", type="boolean")
    AttributeDefinitionFactory(key="born", label="Born on", type="date")
    AttributeDefinitionFactory(key="renewal_at", label="Renewal", type="datetime")
    AttributeDefinitionFactory(key="tags", label="Tags", type="list")
    TopicFactory(key="news", name="Newsletter", channel="email")
    TopicFactory(key="alerts", name="Alerts", channel="sms")


@pytest.fixture(autouse=True)
def _fresh_event_names():
    """The event picker's names are cached a minute: each test starts without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()

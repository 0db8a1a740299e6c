import pytest
from django.utils import timezone

from channels.models import DeliveryStatus
from profiles.consent import ConsentUpdate, consent_set
from profiles.models import ProfileAlias, ProfileMerge
from tests.api.conftest import api_client  # noqa: F401  (the API tests' token client)
from tests.factories import DeliveryFactory, EventFactory, ProfileFactory, TopicFactory


@pytest.fixture
def person(db):
    """A profile with something of every kind held about it."""
    profile = ProfileFactory(
        external_id="crm-7", email="ada@example.com", phone="+33612345678",
        first_name="Ada", last_name="Lovelace", attributes={"plan": "pro"},
    )
    ProfileAlias.objects.create(profile=profile, value="anon-7")
    profile.push_subscriptions.create(kind="fcm", platform="android", token="fcm-token-7")
    TopicFactory(key="newsletter", name="Newsletter")
    consent_set(profile=profile, update=ConsentUpdate(channel="email", state="opted_in",
                                                      source="signup"))
    consent_set(profile=profile, update=ConsentUpdate(channel="email", topic="newsletter",
                                                      state="opted_out", source="footer"))
    EventFactory.create_batch(3, profile=profile, name="page_viewed")
    ProfileMerge.objects.create(survivor=profile, merged_profile_id=900, merged_email=profile.email,
                                merged_aliases=["anon-old"], reason="identify")
    delivery = DeliveryFactory(profile=profile, status=DeliveryStatus.FAILED,
                               error="550 5.1.1 <ADA@example.com>: mailbox unknown")
    delivery.events.create(status=DeliveryStatus.FAILED, occurred_at=timezone.now(),
                           detail="rcpt ada@example.com refused")
    return profile

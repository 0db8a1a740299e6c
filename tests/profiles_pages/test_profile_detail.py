"""The profile page: facts, timeline, editing with inline errors, consent toggles."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels.models import DeliveryStatus
from profiles.consent import ConsentUpdate, consent_set
from profiles.models import ConsentChange, ConsentState, Profile, ProfileAlias, ProfileMerge
from profiles.timeline import profile_timeline
from tests.factories import (
    AttributeDefinitionFactory,
    DeliveryFactory,
    EventFactory,
    ProfileFactory,
    TopicFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def detail(profile: Profile) -> str:
    return reverse("profile_detail", args=[profile.pk])


def edit(profile: Profile) -> str:
    return reverse("profile_edit", args=[profile.pk])


def form_data(profile: Profile, **changes) -> dict:
    data = {
        "email": profile.email, "phone": profile.phone, "first_name": profile.first_name,
        "last_name": profile.last_name, "timezone": profile.timezone, "locale": profile.locale,
    }
    data.update(changes)
    return data


def test_the_page_shows_last_seen_aliases_and_push_devices(marketer_client):
    profile = ProfileFactory(last_seen_at=timezone.now())
    ProfileAlias.objects.create(profile=profile, value="anon-42")
    profile.push_subscriptions.create(kind="fcm", platform="android", token="tok")

    html = marketer_client.get(detail(profile)).content.decode()

    assert "anon-42" in html
    assert "Firebase Cloud Messaging on Android" in html
    assert "Last seen" in html and "ago" in html


def test_the_timeline_merges_every_kind_newest_first():
    now = timezone.now()
    profile = ProfileFactory()
    EventFactory(profile=profile, name="signed_up", occurred_at=now - timedelta(days=3))
    delivery = DeliveryFactory(profile=profile, status=DeliveryStatus.SENT)
    delivery.__class__.objects.filter(pk=delivery.pk).update(created_at=now - timedelta(days=2))
    consent_set(profile=profile, update=ConsentUpdate(
        channel="email", state="opted_out", source="test", occurred_at=now - timedelta(days=1)))
    ProfileMerge.objects.create(survivor=profile, merged_profile_id=999, reason="identify")

    entries, more = profile_timeline(profile=profile)

    assert [e.kind for e in entries] == ["merge", "consent", "delivery", "event"]
    assert not more


def test_the_timeline_is_limited_and_offers_more(marketer_client):
    profile = ProfileFactory()
    EventFactory.create_batch(5, profile=profile)

    first = marketer_client.get(detail(profile), {"timeline": 3})
    more = marketer_client.get(detail(profile), {"timeline": 6})

    assert len(first.context["timeline"]) == 3
    assert 'id="timeline-more"' in first.content.decode()
    assert len(more.context["timeline"]) == 5
    assert 'id="timeline-more"' not in more.content.decode()


def test_saving_the_form_normalizes_the_fields(marketer_client):
    profile = ProfileFactory(locale="fr-FR")

    response = marketer_client.post(edit(profile), form_data(
        profile, email="Ada@EXAMPLE.com", phone="06 12 34 56 78", timezone="America/New_York"))

    assert response.status_code == 302
    profile.refresh_from_db()
    assert (profile.email, profile.phone, profile.timezone) == (
        "Ada@example.com", "+33612345678", "America/New_York")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("email", "not-an-email", "is not a valid email address"),
    ("phone", "12", "phone number"),
    ("timezone", "Mars/Olympus", "Unknown time zone"),
])
def test_a_bad_field_is_shown_next_to_it_and_nothing_is_saved(
    marketer_client, field, value, message
):
    profile = ProfileFactory(email="ada@example.com", phone="", timezone="Europe/Paris")

    response = marketer_client.post(edit(profile), form_data(profile, **{field: value}))

    assert response.status_code == 400
    html = response.content.decode()
    error_at = html.index(f'id="id_{field}-error"')
    assert message in html[error_at:error_at + 300]
    profile.refresh_from_db()
    assert (profile.email, profile.timezone) == ("ada@example.com", "Europe/Paris")


def test_declared_attributes_get_typed_inputs(marketer_client):
    AttributeDefinitionFactory(key="score", label="Score", type="number")
    AttributeDefinitionFactory(key="vip", label="VIP", type="boolean")
    AttributeDefinitionFactory(key="tier", label="Tier", type="string",
                               allowed_values=["gold", "silver"])
    profile = ProfileFactory(attributes={"score": 12, "vip": True, "tier": "gold"})

    html = marketer_client.get(detail(profile)).content.decode()

    assert 'type="number"' in html and 'name="attr_score"' in html and 'value="12"' in html
    assert '<select name="attr_vip"' in html
    assert '<option value="gold" selected>' in html


def test_an_attribute_edit_is_coerced_to_its_type(marketer_client):
    AttributeDefinitionFactory(key="score", type="number")
    AttributeDefinitionFactory(key="vip", type="boolean")
    profile = ProfileFactory(attributes={"plan": "free"})

    marketer_client.post(edit(profile), form_data(profile, attr_score="42", attr_vip="true"))

    profile.refresh_from_db()
    assert profile.attributes == {"plan": "free", "score": 42, "vip": True}


def test_a_wrong_type_for_a_declared_attribute_is_shown_next_to_it(marketer_client):
    AttributeDefinitionFactory(key="birthday", type="date")
    profile = ProfileFactory(attributes={})

    response = marketer_client.post(edit(profile), form_data(profile, attr_birthday="soon"))

    assert response.status_code == 400
    html = response.content.decode()
    error_at = html.index('id="id_attr_birthday-error"')
    assert "Expected a date" in html[error_at:error_at + 200]
    profile.refresh_from_db()
    assert profile.attributes == {}


def test_an_emptied_attribute_is_removed_and_untouched_ones_are_not_rewritten(marketer_client):
    AttributeDefinitionFactory(key="score", type="number")
    AttributeDefinitionFactory(key="since", type="date")
    # "since" was stored before it was declared a date: untouched, it must not block the save.
    profile = ProfileFactory(attributes={"score": 3, "since": "long ago"})

    response = marketer_client.post(
        edit(profile), form_data(profile, attr_score="", attr_since="long ago")
    )

    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.attributes == {"since": "long ago"}


def test_undeclared_attributes_can_be_removed_and_added(marketer_client):
    profile = ProfileFactory(attributes={"legacy": 1, "plan": "free"})

    marketer_client.post(edit(profile), form_data(
        profile, drop_legacy="on", new_key="color", new_value="blue"))

    profile.refresh_from_db()
    assert profile.attributes == {"plan": "free", "color": "blue"}


def test_a_marketer_toggles_consent_and_the_history_says_who(marketer_client):
    profile = ProfileFactory()

    response = marketer_client.post(
        reverse("profile_consent", args=[profile.pk]),
        {"channel": "sms", "topic": "", "state": "opted_in"},
    )

    assert response.status_code == 302
    change = ConsentChange.objects.get(profile=profile)
    assert (change.channel, change.previous_state, change.state, change.source) == (
        "sms", ConsentState.UNKNOWN, ConsentState.OPTED_IN, "ui:marketer")


def test_topic_consent_is_toggled_per_topic(marketer_client):
    topic = TopicFactory(key="newsletter", name="Newsletter")
    profile = ProfileFactory()

    marketer_client.post(reverse("profile_consent", args=[profile.pk]),
                         {"channel": "email", "topic": "newsletter", "state": "opted_out"})

    assert ConsentChange.objects.get(profile=profile).topic == topic


def test_the_consent_table_shows_the_regime_and_whether_sending_is_allowed(
    marketer_client, settings
):
    settings.CONSENT_REGIMES = {"email": "opt_out", "sms": "opt_in", "push": "opt_in",
                                "mail": "opt_out"}
    profile = ProfileFactory()

    response = marketer_client.get(detail(profile))

    rows = {(r["channel"], r["topic"]): r for r in response.context["consents"]}
    assert (rows[("email", None)]["regime"], rows[("email", None)]["allowed"]) == ("opt-out", True)
    assert (rows[("sms", None)]["regime"], rows[("sms", None)]["allowed"]) == ("opt-in", False)
    assert 'id="consent-sms"' in response.content.decode()


def test_a_viewer_without_change_permission_cannot_edit(client):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_profile"))
    client.force_login(viewer)
    profile = ProfileFactory(first_name="Ada")

    page = client.get(detail(profile))
    posted = client.post(edit(profile), form_data(profile, first_name="Eve"))
    toggled = client.post(reverse("profile_consent", args=[profile.pk]),
                          {"channel": "email", "state": "opted_out"})

    assert page.status_code == 200 and 'id="profile-form"' not in page.content.decode()
    assert (posted.status_code, toggled.status_code) == (403, 403)
    profile.refresh_from_db()
    assert profile.first_name == "Ada"

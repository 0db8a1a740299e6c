"""The Django admin: for staff only, safe on big tables, tokens shown once, the log read-only."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse

from campaigns.models import Campaign
from channels.models import DeliveryStatus
from profiles.models import ApiToken
from profiles.services import api_token_create, api_token_hash
from tests.factories import (
    CampaignFactory,
    DeliveryFactory,
    ProfileFactory,
    SegmentFactory,
    StepFactory,
)

SECRET = re.compile(r"itn_[0-9a-f]+_[A-Za-z0-9_-]+")


@pytest.fixture
def admin_client_(client, admin_user_):
    client.force_login(admin_user_)
    return client


@pytest.mark.django_db
def test_a_marketer_is_sent_away_from_the_admin(marketer_client):
    response = marketer_client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_the_admin_index_links_to_the_rq_dashboard(admin_client_, redis_conn):
    dashboard = reverse("admin:django_rq_dashboard_changelist")

    index = admin_client_.get("/admin/")

    assert index.status_code == 200
    assert f'href="{dashboard}"' in index.content.decode()
    assert admin_client_.get(dashboard).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model", [m for m in admin.site._registry if m._meta.app_label in
              ("profiles", "channels", "campaigns")],
    ids=lambda m: m._meta.label,
)
def test_every_changelist_and_add_page_loads(admin_client_, admin_user_, rf, model):
    opts = model._meta
    request = rf.get("/")
    request.user = admin_user_

    changelist = admin_client_.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))

    assert changelist.status_code == 200
    if admin.site._registry[model].has_add_permission(request):
        add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        assert admin_client_.get(add).status_code == 200


@pytest.mark.django_db
def test_adding_a_token_shows_its_secret_once(admin_client_):
    response = admin_client_.post(
        reverse("admin:profiles_apitoken_add"),
        {"name": "CRM sync", "scopes": ["profiles:read", "profiles:write"]},
        follow=True,
    )

    secrets = SECRET.findall(response.content.decode())
    token = ApiToken.objects.get(name="CRM sync")
    assert len(set(secrets)) == 1
    assert token.key_hash == api_token_hash(secrets[0])
    assert token.scopes == ["profiles:read", "profiles:write"]
    again = admin_client_.get(reverse("admin:profiles_apitoken_change", args=[token.pk]))
    assert secrets[0] not in again.content.decode()


@pytest.mark.django_db
def test_a_token_needs_at_least_one_scope(admin_client_):
    response = admin_client_.post(reverse("admin:profiles_apitoken_add"), {"name": "Empty"})

    assert response.status_code == 200
    assert "scopes" in response.context["adminform"].form.errors
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_the_revoke_action_revokes_the_selected_tokens(admin_client_):
    token, _ = api_token_create(name="old", scopes=["profiles:read"])
    kept, _ = api_token_create(name="kept", scopes=["profiles:read"])

    admin_client_.post(
        reverse("admin:profiles_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    token.refresh_from_db()
    kept.refresh_from_db()
    assert token.revoked_at is not None
    assert kept.revoked_at is None


@pytest.mark.django_db
def test_the_segment_page_shows_its_member_count(admin_client_):
    segment = SegmentFactory(
        rules={"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]}
    )
    ProfileFactory.create_batch(3, attributes={"plan": "pro"})

    response = admin_client_.get(reverse("admin:profiles_segment_change", args=[segment.pk]))

    assert "Members" in response.content.decode()
    assert ">3<" in response.content.decode().replace(" ", "").replace("\n", "")


@pytest.mark.django_db
def test_a_segment_with_rules_that_do_not_compile_is_refused(admin_client_):
    response = admin_client_.post(
        reverse("admin:profiles_segment_add"),
        {"name": "Broken", "description": "", "rules": '{"all": [{"field": "nope"}]}'},
    )

    assert response.status_code == 200
    assert "rules" in response.context["adminform"].form.errors


@pytest.mark.django_db
def test_profiles_are_found_by_exact_email_whatever_its_case(admin_client_):
    ProfileFactory(external_id="a", email="Ada@Example.com")
    ProfileFactory(external_id="b", email="bob@example.com")

    response = admin_client_.get(
        reverse("admin:profiles_profile_changelist"), {"q": "ada@example.com"}
    )

    assert [p.external_id for p in response.context["cl"].result_list] == ["a"]


@pytest.mark.django_db
def test_a_delivery_and_its_log_are_read_only(admin_client_):
    delivery = DeliveryFactory(status=DeliveryStatus.SENT)
    delivery.events.create(status=DeliveryStatus.SENT, occurred_at=delivery.created_at)
    change = reverse("admin:channels_delivery_change", args=[delivery.pk])

    page = admin_client_.get(change)
    posted = admin_client_.post(change, {"status": "failed"})
    deleted = admin_client_.post(
        reverse("admin:channels_delivery_delete", args=[delivery.pk]), {"post": "yes"}
    )

    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()
    assert posted.status_code == 403
    assert deleted.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_the_campaign_page_shows_its_email_step_and_delivery_counts(admin_client_):
    step = StepFactory(subject="Spring sale")
    DeliveryFactory(campaign_step=step, status=DeliveryStatus.SENT)

    response = admin_client_.get(
        reverse("admin:campaigns_campaign_change", args=[step.campaign_id])
    )

    html = response.content.decode()
    assert "Spring sale" in html
    assert "sent: 1" in html


@pytest.mark.django_db
def test_a_new_campaign_records_who_created_it(admin_client_, admin_user_):
    segment = CampaignFactory().segment

    admin_client_.post(reverse("admin:campaigns_campaign_add"), {
        "name": "Welcome", "description": "", "segment": segment.pk,
        "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0",
        "steps-0-position": "1", "steps-0-kind": "send_email",
        "steps-0-subject": "Hi", "steps-0-html_body": "<p>Hello</p>", "steps-0-text_body": "",
    })

    campaign = Campaign.objects.get(name="Welcome")
    assert campaign.created_by == admin_user_
    assert campaign.steps.get().subject == "Hi"

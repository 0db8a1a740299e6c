"""The profile list's "Add to list" action, and the admin of lists, snapshots and indexes."""

import datetime

import django_rq
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from profiles.models import AttributeDefinition, Segment, SegmentCountSnapshot, SegmentMember
from tests.factories import ProfileFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db
ADD = "/profiles/add-to-list/"


def listed(segment) -> set[int]:
    return set(SegmentMember.objects.filter(segment=segment).values_list("profile_id", flat=True))


def test_the_profile_list_offers_checkboxes_and_the_static_lists(marketer_client):
    profile = ProfileFactory()
    Segment.objects.create(name="VIP", kind="static")
    SegmentFactory(name="Pro users")

    page = marketer_client.get(reverse("profile_list")).content.decode()

    assert f'name="profile" value="{profile.pk}" form="list-add"' in page
    assert ">VIP</option>" in page
    assert "Pro users" not in page


def test_ticked_profiles_are_added_to_the_chosen_list(marketer_client):
    vip = Segment.objects.create(name="VIP", kind="static")
    ada, bob, _ = ProfileFactory(), ProfileFactory(), ProfileFactory()

    response = marketer_client.post(ADD, {"profile": [ada.pk, bob.pk], "segment": vip.pk,
                                          "next": "/profiles/?q=ada"})

    assert response.status_code == 302 and response.url == "/profiles/?q=ada"
    assert listed(vip) == {ada.pk, bob.pk}
    assert SegmentMember.objects.filter(source="selection").count() == 2
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    assert notes == ["2 profiles added to “VIP”."]


def test_ticked_profiles_start_a_new_list(marketer_client):
    ada = ProfileFactory()

    marketer_client.post(ADD, {"profile": [ada.pk], "new_list": "Met at the fair"})

    segment = Segment.objects.get(name="Met at the fair")
    assert segment.is_static and listed(segment) == {ada.pk}


def test_nothing_ticked_adds_nothing_and_says_so(marketer_client):
    vip = Segment.objects.create(name="VIP", kind="static")

    response = marketer_client.post(ADD, {"segment": vip.pk})

    assert listed(vip) == set()
    assert "Tick the profiles to add first." in [str(m) for m in
                                                 get_messages(response.wsgi_request)]


def test_a_dynamic_segment_is_not_a_choice(marketer_client):
    segment = SegmentFactory()
    ada = ProfileFactory()

    marketer_client.post(ADD, {"profile": [ada.pk], "segment": segment.pk})

    assert not SegmentMember.objects.exists()


def test_the_way_back_stays_on_this_site(marketer_client):
    vip = Segment.objects.create(name="VIP", kind="static")

    response = marketer_client.post(ADD, {"profile": [ProfileFactory().pk], "segment": vip.pk,
                                          "next": "https://evil.example/"})

    assert response.url == reverse("profile_list")


def test_adding_to_lists_needs_the_permission(client):
    client.force_login(UserFactory(username="viewer"))
    vip = Segment.objects.create(name="VIP", kind="static")

    response = client.post(ADD, {"profile": [ProfileFactory().pk], "segment": vip.pk})

    assert response.status_code == 403
    assert listed(vip) == set()


# --- admin ---------------------------------------------------------------------------------


def test_the_build_index_action_marks_and_enqueues_after_commit(
        client, admin_user_, redis_conn, django_capture_on_commit_callbacks):
    client.force_login(admin_user_)
    definition = AttributeDefinition.objects.create(key="ltv", label="LTV", type="number")
    queue = django_rq.get_queue("default")

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:profiles_attributedefinition_changelist"),
                    {"action": "build_index", "_selected_action": [definition.pk]})

    definition.refresh_from_db()
    assert definition.indexed
    assert [job.func_name for job in queue.get_jobs()] == [
        "profiles.attribute_indexes.attribute_indexes_sync_job"]


def test_ticking_indexed_in_the_change_form_enqueues_the_job(
        client, admin_user_, redis_conn, django_capture_on_commit_callbacks):
    client.force_login(admin_user_)
    definition = AttributeDefinition.objects.create(key="signup", label="Signup", type="date")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:profiles_attributedefinition_change", args=[definition.pk]),
            {"label": "Signup", "type": "date", "allowed_values": "", "description": "",
             "indexed": "on"})

    assert response.status_code == 302
    assert django_rq.get_queue("default").count == 1


def test_the_attribute_list_shows_index_states(client, admin_user_):
    client.force_login(admin_user_)
    AttributeDefinition.objects.create(key="ltv", label="LTV", type="number", indexed=True)
    AttributeDefinition.objects.create(key="vip", label="VIP", type="boolean", indexed=True)

    page = client.get(reverse("admin:profiles_attributedefinition_changelist")).content.decode()

    assert "queued" in page and "not needed" in page


def test_list_members_and_count_snapshots_have_admin_pages(client, admin_user_):
    client.force_login(admin_user_)
    vip = Segment.objects.create(name="VIP", kind="static")
    SegmentMember.objects.create(segment=vip, profile=ProfileFactory(external_id="ada"))
    SegmentCountSnapshot.objects.create(segment=vip, day=datetime.date(2026, 1, 2), count=1)

    members = client.get(reverse("admin:profiles_segmentmember_changelist"))
    snapshots = client.get(reverse("admin:profiles_segmentcountsnapshot_changelist"))

    assert "<td class=\"field-external_id\">ada</td>" in members.content.decode()
    assert snapshots.status_code == 200 and "VIP" in snapshots.content.decode()


def test_the_admin_creates_a_static_list_without_rules(client, admin_user_):
    client.force_login(admin_user_)

    response = client.post(reverse("admin:profiles_segment_add"), {
        "name": "Fair", "description": "", "kind": "static", "rules": '{"all": "nonsense"}'})

    assert response.status_code == 302
    assert Segment.objects.get(name="Fair").rules == {"all": []}

"""The segment list and page: count, history, campaigns, duplicate, static list members."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from profiles.models import Segment, SegmentCountSnapshot, SegmentMember
from tests.factories import CampaignFactory, ProfileFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db

PRO = {"all": [{"type": "attribute", "key": "plan", "value_type": "string", "op": "equals",
                "value": "pro"}]}


@pytest.fixture
def static_list():
    return SegmentFactory(name="VIPs", kind=Segment.Kind.STATIC, rules={"all": []})


def _csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("list.csv", text.encode(), content_type="text/csv")


def test_the_page_shows_rules_in_words_count_sample_and_campaigns(marketer_client):
    segment = SegmentFactory(name="Pro", rules=PRO)
    pro = ProfileFactory(attributes={"plan": "pro"}, first_name="Ada", last_name="L")
    ProfileFactory(attributes={"plan": "free"})
    CampaignFactory(name="Spring offer", segment=segment)

    html = marketer_client.get(reverse("segment_detail", args=[segment.pk])).content.decode()

    assert 'id="segment-count">1<' in html
    assert "plan is &#x27;pro&#x27;" in html
    assert f'href="/profiles/{pro.pk}/">Ada L<' in html
    assert "Spring offer" in html


def test_the_page_draws_a_bar_per_day_with_a_snapshot(marketer_client):
    segment = SegmentFactory(rules=PRO)
    today = timezone.now().date()
    for days_ago, count in ((0, 40), (1, 20), (45, 99)):
        SegmentCountSnapshot.objects.create(segment=segment, day=today - timedelta(days=days_ago),
                                            count=count)

    html = marketer_client.get(reverse("segment_detail", args=[segment.pk])).content.decode()

    chart = re.search(r'<svg[^>]*id="count-history">(.*?)</svg>', html, re.S).group(1)
    bars = re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)">', chart)
    assert [float(h) for _, h in bars] == [60.0, 120.0]  # 20 and 40 of a 120-high chart
    assert "highest 40" in html


def test_the_list_shows_the_last_snapshot_count_not_a_live_one(marketer_client):
    segment = SegmentFactory(name="Pro", rules=PRO)
    ProfileFactory.create_batch(2, attributes={"plan": "pro"})
    today = timezone.now().date()
    SegmentCountSnapshot.objects.create(segment=segment, day=today - timedelta(days=1), count=7)
    SegmentCountSnapshot.objects.create(segment=segment, day=today, count=9)

    html = marketer_client.get(reverse("segment_list")).content.decode()

    row = re.search(r"<tr><td><a href=\"/segments/\d+/\">Pro</a>.*?</tr>", html, re.S).group(0)
    assert ">9</span>" in row
    assert "plan is &#x27;pro&#x27;" in row and "Rules" in row


def test_duplicating_makes_a_copy_named_copy(marketer_client):
    segment = SegmentFactory(name="Pro", rules=PRO, description="Paying")

    response = marketer_client.post(reverse("segment_duplicate", args=[segment.pk]))
    marketer_client.post(reverse("segment_duplicate", args=[segment.pk]))

    copy = Segment.objects.get(name="Pro (copy)")
    assert response["Location"] == reverse("segment_detail", args=[copy.pk])
    assert (copy.rules, copy.description) == (PRO, "Paying")
    assert Segment.objects.filter(name="Pro (copy 2)").exists()


def test_duplicating_a_static_list_copies_its_members(marketer_client, static_list):
    profiles = ProfileFactory.create_batch(3)
    SegmentMember.objects.bulk_create(
        SegmentMember(segment=static_list, profile=p, source="csv") for p in profiles
    )

    marketer_client.post(reverse("segment_duplicate", args=[static_list.pk]))

    copy = Segment.objects.get(name="VIPs (copy)")
    assert copy.is_static
    assert set(copy.members.values_list("profile_id", flat=True)) == {p.pk for p in profiles}


def test_a_csv_adds_known_profiles_and_reports_unknown_rows(marketer_client, static_list):
    by_id = ProfileFactory(external_id="c-1")
    by_email = ProfileFactory(external_id=None, email="ada@example.com")
    already = ProfileFactory(external_id="c-2")
    SegmentMember.objects.create(segment=static_list, profile=already)
    upload = _csv("email,external_id\n,c-1\nADA@example.com,\nx@y.z,c-2\n"
                  "ghost@example.com,\n,c-404\n\n")

    response = marketer_client.post(reverse("segment_members_csv", args=[static_list.pk]),
                                    {"file": upload})

    html = response.content.decode()
    assert set(static_list.members.values_list("profile_id", flat=True)) == {
        by_id.pk, by_email.pk, already.pk}
    assert "<strong>2</strong> added, 1 already on the list, 2 rows matched no profile (of 5)" \
        in html
    assert "<td>5</td><td>email</td><td>ghost@example.com</td>" in html
    assert "<td>6</td><td>external_id</td><td>c-404</td>" in html


def test_a_csv_without_a_key_column_is_refused(marketer_client, static_list):
    response = marketer_client.post(reverse("segment_members_csv", args=[static_list.pk]),
                                    {"file": _csv("name\nAda\n")})

    assert response.status_code == 400
    assert b"The first row must name a column external_id, email or id." in response.content


def test_a_dynamic_segment_takes_no_csv(marketer_client):
    segment = SegmentFactory(rules=PRO)

    response = marketer_client.post(reverse("segment_members_csv", args=[segment.pk]),
                                    {"file": _csv("email\na@b.c\n")})

    assert response.status_code == 404


def test_a_member_is_removed_from_the_list(marketer_client, static_list):
    kept, removed = ProfileFactory.create_batch(2)
    for profile in (kept, removed):
        SegmentMember.objects.create(segment=static_list, profile=profile)

    response = marketer_client.post(
        reverse("segment_member_remove", args=[static_list.pk, removed.pk])
    )

    assert response.status_code == 302
    assert list(static_list.members.values_list("profile_id", flat=True)) == [kept.pk]


def test_the_static_list_page_lists_members_with_remove_buttons(marketer_client, static_list):
    member = ProfileFactory(first_name="Grace", last_name="H")
    SegmentMember.objects.create(segment=static_list, profile=member, source="csv")

    html = marketer_client.get(reverse("segment_detail", args=[static_list.pk])).content.decode()

    assert 'id="segment-count">1<' in html
    assert "Grace H" in html
    assert f'action="/segments/{static_list.pk}/members/{member.pk}/remove/"' in html
    assert 'id="csv-upload"' in html


# --- permissions ---------------------------------------------------------------------------


@pytest.fixture
def viewer_client(client):
    user = UserFactory(username="viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_segment"))
    client.force_login(user)
    return client


def test_a_viewer_reads_segments_and_previews_counts(viewer_client):
    segment = SegmentFactory(rules=PRO)

    assert viewer_client.get(reverse("segment_list")).status_code == 200
    assert viewer_client.get(reverse("segment_detail", args=[segment.pk])).status_code == 200
    assert viewer_client.post(reverse("segment_preview"), {"r.kind": "all"}).status_code == 200


def test_a_viewer_sees_no_edit_nor_duplicate_buttons(viewer_client):
    segment = SegmentFactory(rules=PRO)

    html = viewer_client.get(reverse("segment_detail", args=[segment.pk])).content.decode()

    assert "Duplicate" not in html and reverse("segment_edit", args=[segment.pk]) not in html


@pytest.mark.parametrize("name", ["segment_edit", "segment_duplicate", "segment_members_csv"])
def test_a_viewer_cannot_change_segments(viewer_client, static_list, name):
    method = viewer_client.get if name == "segment_edit" else viewer_client.post

    assert method(reverse(name, args=[static_list.pk])).status_code == 403


def test_a_viewer_cannot_create_segments_nor_remove_members(viewer_client, static_list):
    profile = ProfileFactory()
    SegmentMember.objects.create(segment=static_list, profile=profile)

    assert viewer_client.get(reverse("segment_create")).status_code == 403
    assert viewer_client.post(
        reverse("segment_member_remove", args=[static_list.pk, profile.pk])
    ).status_code == 403
    assert static_list.members.count() == 1


@pytest.mark.parametrize("name", ["segment_list", "segment_builder", "segment_preview"])
def test_a_user_without_segment_permissions_is_refused(client, name):
    client.force_login(UserFactory(username="outsider"))

    method = client.get if name == "segment_list" else client.post

    assert method(reverse(name)).status_code == 403


def test_the_marketers_group_may_add_change_and_view_segments(marketer):
    assert marketer.has_perms(["profiles.add_segment", "profiles.change_segment",
                               "profiles.view_segment"])

"""Static lists: members added and removed set-based, by API, by CSV file and by selection."""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from profiles import lists
from profiles.lists import (
    ListError,
    references,
    static_list_add,
    static_list_add_from_csv,
    static_list_remove,
)
from profiles.models import Segment, SegmentMember
from tests.factories import ProfileFactory, SegmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def vip():
    return Segment.objects.create(name="VIP", kind="static")


def members(segment) -> set[str]:
    return set(SegmentMember.objects.filter(segment=segment)
               .values_list("profile__external_id", flat=True))


# --- the service ---------------------------------------------------------------------------


def test_profiles_are_added_by_id_external_id_and_email_and_unknown_ones_reported(vip):
    ProfileFactory(external_id="ada", email="Ada@Example.org")
    bob = ProfileFactory(external_id="bob")
    ProfileFactory(external_id="cy")

    change = static_list_add(segment=vip, refs=references(
        ids=[bob.pk, 987654321], external_ids=["ada", "nobody"], emails=["ada@example.ORG"]))

    assert members(vip) == {"ada", "bob"}
    assert (change.changed, change.unchanged, change.unknown) == (2, 0, 2)
    assert change.unknown_values("id") == ["987654321"]
    assert change.unknown_values("external_id") == ["nobody"]


def test_adding_again_changes_nothing(vip):
    ProfileFactory(external_id="ada")
    static_list_add(segment=vip, refs=references(external_ids=["ada"]))

    change = static_list_add(segment=vip, refs=references(external_ids=["ada", "ada"]))

    assert (change.changed, change.unchanged) == (0, 1)
    assert SegmentMember.objects.filter(segment=vip).count() == 1


def test_a_batch_is_one_statement_whatever_its_size(vip):
    ProfileFactory.create_batch(30)
    ids = list(range(1, 200))  # some name profiles, most do not

    with CaptureQueriesContext(connection) as queries:
        static_list_add(segment=vip, refs=references(ids=ids))

    statements = [q["sql"] for q in queries.captured_queries
                  if "SAVEPOINT" not in q["sql"] and "profiles_segmentmember" in q["sql"]]
    assert len(statements) == 1


def test_removing_reports_profiles_that_were_not_members(vip):
    ada = ProfileFactory(external_id="ada")
    ProfileFactory(external_id="bob")
    static_list_add(segment=vip, refs=references(ids=[ada.pk]))

    change = static_list_remove(segment=vip, refs=references(external_ids=["ada", "bob", "x"]))

    assert members(vip) == set()
    assert (change.changed, change.unchanged, change.unknown) == (1, 1, 1)


def test_a_dynamic_segment_has_no_members_to_add():
    ProfileFactory(external_id="ada")
    segment = SegmentFactory()

    with pytest.raises(ListError):
        static_list_add(segment=segment, refs=references(external_ids=["ada"]))

    assert not SegmentMember.objects.exists()


# --- CSV files -----------------------------------------------------------------------------


def test_a_csv_upload_adds_by_external_id_or_else_email(vip):
    ProfileFactory(external_id="ada")
    ProfileFactory(external_id="bob", email="bob@example.org")
    upload = io.BytesIO("\ufeffExternal_ID,Email\nada,\n,BOB@example.org\nghost,\n\n".encode())

    change = static_list_add_from_csv(segment=vip, file=upload)

    assert members(vip) == {"ada", "bob"}
    assert (change.rows, change.changed, change.unknown) == (3, 2, 1)
    assert [(r.line, r.value) for r in change.unknown_refs] == [(4, "ghost")]
    assert SegmentMember.objects.filter(segment=vip, source="csv").count() == 2


def test_a_csv_file_is_read_in_chunks(vip, monkeypatch):
    monkeypatch.setattr(lists, "CHUNK", 3)
    profiles = ProfileFactory.create_batch(7)
    text = "id\n" + "".join(f"{p.pk}\n" for p in profiles) + "not-a-number\n"

    with CaptureQueriesContext(connection) as queries:
        change = static_list_add_from_csv(segment=vip, file=io.StringIO(text))

    inserts = [q for q in queries.captured_queries if "INSERT INTO profiles_segmentmember"
               in q["sql"]]
    assert len(inserts) == 3  # 3 + 3 + 2 references
    assert (change.changed, change.unknown) == (7, 1)
    assert change.unknown_refs[0].value == "not-a-number"


def test_a_csv_without_a_known_column_is_refused(vip):
    with pytest.raises(ListError, match="external_id, email or id"):
        static_list_add_from_csv(segment=vip, file=io.BytesIO(b"name\nAda\n"))


def test_a_file_that_is_not_utf8_adds_no_one(vip):
    ProfileFactory(external_id="ada")
    data = b"external_id\nada\n" + b"\xff\xfe\n" * 3

    with pytest.raises(ListError, match="UTF-8"):
        static_list_add_from_csv(segment=vip, file=io.BytesIO(data))

    assert not SegmentMember.objects.exists()


# --- through the API -----------------------------------------------------------------------


def test_the_api_adds_members_and_reports_unknown_ones(vip, writer):
    ProfileFactory(external_id="ada")

    response = writer.post(f"/api/v1/segments/{vip.pk}/members",
                           {"external_ids": ["ada", "zed"]}, format="json")

    assert response.status_code == 200
    assert response.json() == {"changed": 1, "unchanged": 0,
                               "unknown": {"external_ids": ["zed"]}}
    assert members(vip) == {"ada"}


def test_the_api_removes_members(vip, writer):
    ada = ProfileFactory(external_id="ada")
    SegmentMember.objects.create(segment=vip, profile=ada)

    response = writer.delete(f"/api/v1/segments/{vip.pk}/members", {"ids": [ada.pk]},
                             format="json")

    assert response.json() == {"changed": 1, "unchanged": 0, "unknown": {}}
    assert members(vip) == set()


def test_the_api_refuses_members_for_a_dynamic_segment(writer):
    ProfileFactory(external_id="ada")
    segment = SegmentFactory()

    response = writer.post(f"/api/v1/segments/{segment.pk}/members", {"external_ids": ["ada"]},
                           format="json")

    assert response.status_code == 400
    assert "follow from its rules" in response.json()["detail"]


def test_the_api_refuses_an_empty_or_oversized_change(vip, writer):
    empty = writer.post(f"/api/v1/segments/{vip.pk}/members", {}, format="json")
    huge = writer.post(f"/api/v1/segments/{vip.pk}/members",
                       {"ids": list(range(1, 10_002))}, format="json")

    assert empty.status_code == huge.status_code == 400


def test_changing_members_needs_the_write_scope(vip, reader):
    ProfileFactory(external_id="ada")

    response = reader.post(f"/api/v1/segments/{vip.pk}/members", {"external_ids": ["ada"]},
                           format="json")

    assert response.status_code == 403
    assert members(vip) == set()


def test_a_django_upload_is_read_as_it_arrives_from_a_form(vip):
    from django.core.files.uploadedfile import SimpleUploadedFile

    ProfileFactory(external_id="ada", email="ada@example.org")
    upload = SimpleUploadedFile("list.csv", "Nom;Email\r\nLové;ADA@example.org\r\n"
                                .encode(), content_type="text/csv")

    change = static_list_add_from_csv(segment=vip, file=upload)

    assert (change.rows, change.changed) == (1, 1)
    assert members(vip) == {"ada"}

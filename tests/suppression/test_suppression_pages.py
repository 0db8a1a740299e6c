"""The suppression list page: search, add, remove, CSV import."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from channels.models import Suppression
from channels.suppression import suppress


@pytest.fixture
def staff_client(client, marketer):
    marketer.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="channels",
        codename__in=["view_suppression", "add_suppression", "delete_suppression"]))
    client.force_login(marketer)
    return client


def test_the_list_searches_by_address(staff_client):
    suppress(kind="email", address="ann@example.com", cause="manual")
    suppress(kind="email", address="bob@example.com", cause="complaint")

    response = staff_client.get("/suppressions/", {"q": "ann"})

    assert response.status_code == 200
    body = response.content.decode()
    assert "ann@example.com" in body
    assert "bob@example.com" not in body


def test_adding_an_address_suppresses_it(staff_client):
    response = staff_client.post("/suppressions/add/", {"kind": "email", "address": "Zed@X.org"})

    assert response.status_code == 302
    assert Suppression.objects.get().address == "zed@x.org"


def test_adding_a_bad_address_says_why_and_adds_nothing(staff_client):
    response = staff_client.post("/suppressions/add/", {"kind": "phone", "address": "12"},
                                 follow=True)

    assert "not a" in response.content.decode()
    assert not Suppression.objects.exists()


def test_removing_lifts_the_suppression(staff_client):
    row, _ = suppress(kind="email", address="ann@example.com", cause="manual")

    staff_client.post(f"/suppressions/{row.pk}/remove/")

    assert not Suppression.objects.exists()


def test_the_import_page_lists_refused_rows(staff_client):
    upload = SimpleUploadedFile("list.csv", b"email\nok@example.com\nnope\n", "text/csv")

    response = staff_client.post("/suppressions/import/", {"file": upload})

    assert response.status_code == 200
    assert Suppression.objects.filter(address="ok@example.com").exists()
    assert "&#x27;nope&#x27; is not a valid email address" in response.content.decode()


def test_a_user_without_the_permission_cannot_add(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="outsider"))

    response = client.post("/suppressions/add/", {"kind": "email", "address": "a@b.org"})

    assert response.status_code == 403
    assert not Suppression.objects.exists()


def test_marketers_may_add_a_suppression(marketer_client):
    marketer_client.post("/suppressions/add/", {"kind": "email", "address": "a@b.org"})

    assert Suppression.objects.filter(address="a@b.org").exists()


@pytest.mark.parametrize("model", ["suppression", "addresshealth", "seedlist", "senderidentity",
                                   "messagetemplate"])
def test_the_admin_lists_the_channel_settings(client, admin_user_, model):
    suppress(kind="email", address="ann@example.com", cause="manual")
    client.force_login(admin_user_)

    response = client.get(f"/admin/channels/{model}/")

    assert response.status_code == 200

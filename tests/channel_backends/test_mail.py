import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from channels.backends.base import DeliveryError, Outbound
from channels.backends.mail import MailFileBackend, mark_exported
from channels.models import DeliveryEvent, DeliveryStatus, MailExport
from tests.factories import DeliveryFactory, ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

ADDRESS = {"address_line1": "12 rue de la Paix", "address_line2": "Bât. B",
           "postal_code": "75002", "city": "Paris", "country": "FR"}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def mail_delivery(**attributes):
    profile = ProfileFactory(first_name="Ada", last_name="Lovelace",
                             attributes={"plan": "pro", **attributes})
    return DeliveryFactory(profile=profile, channel="mail", status=DeliveryStatus.SENDING,
                           address="Ada Lovelace")


def letter(delivery, text="Dear Ada,\nthank you.", **content):
    return Outbound(delivery_id=delivery.pk, channel="mail", address=delivery.address,
                    content={"letter": text, **content}, message_id=f"itinera-{delivery.pk}")


def rows(export: MailExport) -> list[dict]:
    return list(csv.DictReader(io.StringIO(Path(export.file.path).read_text("utf-8"))))


def test_a_batch_writes_one_csv_with_addresses_from_profile_attributes(media):
    # given two deliveries to profiles with postal addresses
    first, second = mail_delivery(**ADDRESS), mail_delivery(**{**ADDRESS, "city": "Lyon"})
    # when they are sent in one batch
    with MailFileBackend() as backend:
        ids = [backend.send(letter(first)), backend.send(letter(second, "Hello"))]
    # then one export holds both, under MEDIA_ROOT/mail-exports
    export = MailExport.objects.get()
    assert ids == [f"{export.pk}:1", f"{export.pk}:2"]
    assert export.count == 2
    assert export.file.name.startswith("mail-exports/")
    assert Path(export.file.path).is_relative_to(media / "mail-exports")
    written = rows(export)
    assert written[0] == {
        "delivery_id": str(first.pk), "message_id": f"itinera-{first.pk}",
        "name": "Ada Lovelace", **ADDRESS, "letter": "Dear Ada,\nthank you.",
    }
    assert (written[1]["city"], written[1]["letter"]) == ("Lyon", "Hello")


def test_leaving_the_batch_marks_its_deliveries_exported(media):
    first, second = mail_delivery(**ADDRESS), mail_delivery(**ADDRESS)
    with MailFileBackend() as backend:
        backend.send(letter(first))
        backend.send(letter(second))
    export = MailExport.objects.get()
    for delivery in (first, second):
        delivery.refresh_from_db()
        assert (delivery.status, delivery.mail_export_id) == (DeliveryStatus.EXPORTED, export.pk)
        assert delivery.sent_at is not None
    assert DeliveryEvent.objects.filter(status=DeliveryStatus.EXPORTED).count() == 2


def test_address_fields_in_the_content_win_over_attributes(media):
    delivery = mail_delivery(**ADDRESS)
    with MailFileBackend() as backend:
        backend.send(letter(delivery, address_line1="1 Main St", postal_code="10001",
                            city="New York", country="US"))
    (row,) = rows(MailExport.objects.get())
    assert (row["address_line1"], row["city"], row["country"]) == ("1 Main St", "New York", "US")


def test_an_incomplete_address_fails_permanently_and_writes_nothing(media):
    delivery = mail_delivery(address_line1="12 rue de la Paix", city="Paris")
    with MailFileBackend() as backend, pytest.raises(DeliveryError) as failure:
        backend.send(letter(delivery))
    assert failure.value.permanent
    assert "postal_code" in str(failure.value)
    assert not MailExport.objects.exists()


def test_a_batch_with_nothing_sent_makes_no_file(media):
    with MailFileBackend():
        pass
    assert not MailExport.objects.exists()


def test_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(media):
    delivery = mail_delivery(**{**ADDRESS, "address_line2": "=HYPERLINK(\"http://x\")"})
    with MailFileBackend() as backend:
        backend.send(letter(delivery, "@SUM(1)"))
    (row,) = rows(MailExport.objects.get())
    assert row["address_line2"] == "'=HYPERLINK(\"http://x\")"
    assert row["letter"] == "'@SUM(1)"


def test_mark_exported_leaves_deliveries_in_other_states_alone(media):
    exported, failed = mail_delivery(**ADDRESS), mail_delivery(**ADDRESS)
    failed.status = DeliveryStatus.FAILED
    failed.save(update_fields=["status"])
    export = MailExport.objects.create()
    assert mark_exported(export=export, delivery_ids=[exported.pk, failed.pk]) == 1
    assert mark_exported(export=export, delivery_ids=[exported.pk, failed.pk]) == 0
    failed.refresh_from_db()
    assert failed.status == DeliveryStatus.FAILED and failed.mail_export_id is None


# --- the exports page --------------------------------------------------------------------

@pytest.fixture
def export(media):
    delivery = mail_delivery(**ADDRESS)
    with MailFileBackend() as backend:
        backend.send(letter(delivery))
    return MailExport.objects.get()


@pytest.fixture
def exports_client(client):
    user = UserFactory(username="printer")
    user.user_permissions.add(Permission.objects.get(codename="view_mailexport"))
    client.force_login(user)
    return client


def test_the_page_lists_exports_with_their_counts(exports_client, export):
    response = exports_client.get(reverse("mail_export_list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert reverse("mail_export_download", args=[export.pk]) in body
    assert f"<td>{export.count}</td>" in body


def test_download_gives_the_csv_as_an_attachment(exports_client, export):
    response = exports_client.get(reverse("mail_export_download", args=[export.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith("attachment;")
    content = b"".join(response.streaming_content).decode()
    assert "12 rue de la Paix" in content


def test_without_the_permission_the_page_and_download_are_forbidden(client, export):
    client.force_login(UserFactory(username="someone"))
    assert client.get(reverse("mail_export_list")).status_code == 403
    assert client.get(reverse("mail_export_download", args=[export.pk])).status_code == 403


def test_anonymous_users_are_sent_to_login(client, export):
    response = client.get(reverse("mail_export_download", args=[export.pk]))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_a_file_name_outside_the_exports_folder_is_not_served(exports_client, export, media):
    # given a database row edited to point elsewhere under MEDIA_ROOT
    (media / "secret.txt").write_text("not an export")
    export.file.name = "mail-exports/../secret.txt"
    export.save(update_fields=["file"])
    response = exports_client.get(reverse("mail_export_download", args=[export.pk]))
    assert response.status_code == 404

"""The global suppression list: keyed by address, importable, kept across profile re-creation."""

import io

import pytest

from channels.models import Suppression
from channels.suppression import (
    SuppressionError,
    is_suppressed,
    suppress,
    suppressions_import,
    unsuppress,
)
from profiles.fields import FieldError
from profiles.models import Profile
from profiles.services import profile_upsert

pytestmark = pytest.mark.django_db


def test_an_address_is_suppressed_in_its_normalized_form():
    suppress(kind="email", address="  Ann.Lee@Example.COM ", cause="manual")

    assert Suppression.objects.get().address == "ann.lee@example.com"
    assert is_suppressed(kind="email", address="ann.lee@example.com")
    assert is_suppressed(kind="email", address="ANN.LEE@example.com")


def test_a_phone_is_suppressed_in_e164():
    suppress(kind="phone", address="+33 6 12 34 56 78", cause="manual")

    assert is_suppressed(kind="phone", address="+33612345678")


def test_suppressing_twice_keeps_the_first_cause():
    suppress(kind="email", address="a@example.com", cause="hard_bounce")

    _, created = suppress(kind="email", address="a@example.com", cause="manual")

    assert not created
    assert Suppression.objects.get().cause == "hard_bounce"


def test_an_invalid_address_is_refused():
    with pytest.raises(FieldError):
        suppress(kind="email", address="not-an-email", cause="manual")
    with pytest.raises(SuppressionError):
        suppress(kind="fax", address="123", cause="manual")


def test_unsuppress_lets_the_address_be_sent_to_again():
    suppress(kind="email", address="a@example.com", cause="manual")

    assert unsuppress(kind="email", address="A@example.com")
    assert not is_suppressed(kind="email", address="a@example.com")


def test_a_suppressed_address_stays_suppressed_when_the_profile_is_reimported():
    profile, _ = profile_upsert(external_id="c-1", data={"email": "ann@example.com"})
    suppress(kind="email", address=profile.email, cause="complaint")

    profile_upsert(external_id="c-1", data={"email": "ann@example.com", "first_name": "Ann"})

    assert is_suppressed(kind="email", address=Profile.objects.get(external_id="c-1").email)


def test_a_suppressed_address_stays_suppressed_when_the_profile_is_recreated():
    profile, _ = profile_upsert(external_id="c-1", data={"email": "ann@example.com"})
    suppress(kind="email", address=profile.email, cause="hard_bounce")
    profile.delete()

    again, created = profile_upsert(external_id="c-2", data={"email": "Ann@Example.com"})

    assert created
    assert is_suppressed(kind="email", address=again.email)
    assert Suppression.objects.count() == 1


def test_a_csv_import_keeps_good_rows_and_reports_each_bad_one():
    csv = io.StringIO(
        "email,phone\n"
        "good@example.com,\n"
        "not-an-email,\n"
        ",+33612345678\n"
        ",\n"
        "GOOD@example.com,12\n"
    )

    result = suppressions_import(stream=csv)

    assert set(Suppression.objects.values_list("kind", "address")) == {
        ("email", "good@example.com"), ("phone", "+33612345678")}
    assert set(Suppression.objects.values_list("cause", flat=True)) == {"import"}
    assert [line for line, _ in result.errors] == [3, 5, 6]
    assert result.added == 2


def test_an_import_counts_addresses_already_suppressed():
    suppress(kind="email", address="old@example.com", cause="hard_bounce")

    result = suppressions_import(stream=io.StringIO("Email\nold@example.com\nnew@example.com\n"))

    assert (result.added, result.already) == (1, 1)
    assert Suppression.objects.get(address="old@example.com").cause == "hard_bounce"


def test_an_import_without_an_address_column_is_refused():
    with pytest.raises(SuppressionError):
        suppressions_import(stream=io.StringIO("name\nAnn\n"))

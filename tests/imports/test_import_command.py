"""manage.py import_profiles: the same service, run synchronously, printing counts."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from profiles.models import Profile, ProfileImport

pytestmark = pytest.mark.django_db


def test_imports_a_file_with_an_explicit_mapping(tmp_path):
    source = tmp_path / "people.csv"
    source.write_text("Id;Email;Plan\nc1;ann@example.com;pro\nc2;bad;free\n")
    out = StringIO()

    call_command("import_profiles", str(source), "--key", "external_id", "--map", "Id=external_id",
                 "--map", "Email=email", "--map", "Plan=attributes.plan", "--delimiter", ";",
                 stdout=out, stderr=StringIO())

    printed = out.getvalue()
    assert "processed=2 imported=1 errors=1" in printed
    done = ProfileImport.objects.get()
    assert f"Error file: {done.error_file.path}" in printed
    assert Profile.objects.get(external_id="c1").attributes == {"plan": "pro"}


def test_without_a_mapping_it_uses_and_prints_the_suggestion(tmp_path):
    source = tmp_path / "people.csv"
    source.write_text("external_id,email\nc1,ann@example.com\n")
    out = StringIO()

    call_command("import_profiles", str(source), stdout=out, stderr=StringIO())

    assert "  email → email" in out.getvalue()
    assert Profile.objects.filter(external_id="c1", email="ann@example.com").exists()


def test_a_bad_mapping_is_a_command_error(tmp_path):
    source = tmp_path / "people.csv"
    source.write_text("Email\nann@example.com\n")

    with pytest.raises(CommandError, match="No column is mapped to external_id"):
        call_command("import_profiles", str(source), "--map", "Email=email",
                     stdout=StringIO(), stderr=StringIO())

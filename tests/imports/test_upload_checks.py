"""An unusable file is refused at upload, with a reason, and nothing is kept."""

import pytest

from profiles.imports import ImportFileError, import_headers
from profiles.models import ProfileImport


def test_bom_is_stripped_from_the_first_header(upload):
    # given a file saved by Excel as "CSV UTF-8": it starts with a byte order mark
    content = "\ufeffexternal_id,email\nc1,a@example.com\n".encode()

    # when it is uploaded
    profile_import = upload(content)

    # then the first column is named without the BOM, and suggested as the key
    assert import_headers(profile_import=profile_import) == ["external_id", "email"]
    assert profile_import.mapping == {"external_id": "external_id", "email": "email"}


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_the_delimiter_is_sniffed(upload, delimiter, name):
    content = delimiter.join(["external_id", "email", "first_name"]) + "\n" + delimiter.join(
        ["c1", "a@example.com", "Ann"]) + "\n"

    profile_import = upload(content)

    assert profile_import.delimiter == delimiter, name
    assert import_headers(profile_import=profile_import) == ["external_id", "email", "first_name"]


def test_a_forced_delimiter_wins_over_the_sniffer(upload):
    profile_import = upload("external_id;email\nc1;a@example.com\n", delimiter=",")

    assert profile_import.delimiter == ","
    assert import_headers(profile_import=profile_import) == ["external_id;email"]


def test_the_line_count_estimates_the_rows(upload):
    profile_import = upload("external_id\nc1\nc2\nc3")  # no newline at the end

    assert profile_import.total_rows == 3


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "The file is empty."),
        (b"\xef\xbb\xbf\n\n", "The file is empty."),
        (b"\nexternal_id\nc1\n", "The first line is empty"),
        (b"email,Email ,email\na,b,c\n", "names the column “email” twice"),
        (b"external_id,,email\nc1,x,a@example.com\n", "Column 2 of the header has no name"),
        (b"c1,ann@example.com\nc2,bob@example.com\n", "looks like data"),
        ("external_id,name\nc1,Zo\xe9\n".encode("latin-1"), "not UTF-8 text"),
        ("external_id,name\nc1,Zoé\n".encode("utf-16"), "not UTF-8 text"),
    ],
    ids=["empty", "only-bom", "no-header", "duplicate-columns", "unnamed-column",
         "data-as-header", "latin-1", "utf-16"],
)
def test_unusable_files_are_refused_and_not_kept(upload, media_root, content, reason):
    with pytest.raises(ImportFileError) as refused:
        upload(content)

    assert reason in str(refused.value)
    assert not ProfileImport.objects.exists()
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_invalid_utf8_far_into_the_file_is_refused_with_its_offset(upload):
    content = b"external_id,name\n" + b"c1,Ann\n" * 200_000 + b"c2,Zo\xe9\n"

    with pytest.raises(ImportFileError) as refused:
        upload(content)

    assert f"offset {17 + 7 * 200_000 + 5:,}" in str(refused.value)  # the byte after "c2,Zo"

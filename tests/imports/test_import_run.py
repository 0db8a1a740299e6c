"""The import job, run in-process: good rows land, bad rows are reported, nothing half-written."""

import pytest

from profiles.imports import MappingError, import_cancel, import_configure, import_run
from profiles.imports.services import import_start
from profiles.models import (
    AuditLog,
    Consent,
    ConsentChange,
    ConsentState,
    Profile,
    ProfileImport,
    Topic,
)
from tests.factories import ProfileFactory, UserFactory
from tests.imports.conftest import csv_text, error_rows

pytestmark = pytest.mark.django_db

BASIC = {"external_id": "external_id", "email": "email", "first_name": "first_name"}


def test_a_file_with_a_bom_imports_its_first_column(run_import):
    content = "\ufeffexternal_id,email,first_name\nc1,Ann@Example.COM,Ann\n".encode()

    done = run_import(content, BASIC)

    assert done.status == ProfileImport.Status.COMPLETED
    profile = Profile.objects.get(external_id="c1")
    assert (profile.email, profile.first_name) == ("Ann@example.com", "Ann")


def test_a_semicolon_file_is_read_with_the_sniffed_delimiter(run_import):
    content = "external_id;email;first_name\nc1;ann@example.com;Ann\nc2;bob@example.com;Bob\n"

    done = run_import(content, BASIC)

    assert done.imported_rows == 2
    assert set(Profile.objects.values_list("external_id", flat=True)) == {"c1", "c2"}


def test_a_wrong_forced_delimiter_is_a_missing_key_column_error(upload):
    # given a semicolon file that the user forces to be read as comma-separated
    profile_import = upload("external_id;email\nc1;ann@example.com\n", delimiter=",")

    # when the mapping names the columns the user expects
    with pytest.raises(MappingError) as refused:
        import_configure(profile_import=profile_import, mapping=BASIC, upsert_key="external_id")

    # then the key column is reported missing, with a hint about the delimiter
    message = refused.value.errors["upsert_key"]
    assert "No column is mapped to external_id" in message
    assert "is the delimiter a semicolon?" in message
    assert refused.value.errors["email"] == "The file has no column “email”."


def test_a_row_with_missing_columns_is_reported_and_the_others_imported(run_import):
    content = "external_id,email,first_name\nc1,ann@example.com,Ann\nc2,bob@example.com\n" \
              "c3,cy@example.com,Cy\n"

    done = run_import(content, BASIC)

    assert (done.imported_rows, done.error_rows) == (2, 1)
    assert set(Profile.objects.values_list("external_id", flat=True)) == {"c1", "c3"}
    [error] = error_rows(done)
    assert error["line"] == "3"
    assert "Missing columns: 2 value(s) where the header has 3" in error["reason"]
    assert error["raw"] == "c2,bob@example.com"


def test_an_unterminated_quote_costs_only_its_own_row(run_import):
    # given a stray quote on line 3 that a CSV reader would carry into the rows after it
    content = (
        'external_id,email,first_name\n'
        'c1,ann@example.com,Ann\n'
        'c2,bob@example.com,"Bob\n'
        'c3,cy@example.com,Cy\n'
        'c4,dee@example.com,"Dee ""the Great"""\n'
        'c5,eve@example.com,Eve\n'
    )

    done = run_import(content, BASIC)

    # then only line 3 is reported; the rows after it are imported
    assert (done.imported_rows, done.error_rows) == (4, 1)
    assert set(Profile.objects.values_list("external_id", flat=True)) == {"c1", "c3", "c4", "c5"}
    assert Profile.objects.get(external_id="c4").first_name == 'Dee "the Great"'
    [error] = error_rows(done)
    assert (error["line"], error["column"]) == ("3", "(row)")
    assert "never closed" in error["reason"]


def test_a_quoted_value_over_two_lines_is_one_row(run_import, declared):
    content = 'external_id,address\nc1,"12 Main St\nSpringfield"\nc2,Elm St\n'

    done = run_import(content, {"external_id": "external_id", "address": "attributes.address"})

    assert (done.imported_rows, done.error_rows) == (2, 0)
    assert Profile.objects.get(external_id="c1").attributes == {
        "address": "12 Main St\nSpringfield"
    }


def test_ten_percent_bad_rows_are_reported_and_the_rest_imported(run_import, declared):
    # given 100 rows, every tenth with one bad value of a different kind
    bad = {
        0: ("email", "not-an-email", "not a valid email address"),
        1: ("phone", "+33123", "not a valid phone number"),
        2: ("timezone", "Mars/Olympus", "Unknown time zone"),
        3: ("score", "lots", "Expected a number"),
        4: ("since", "31/12/2024", "Expected a date"),
        5: ("vip", "maybe", "Expected true or false"),
        6: ("email", "two@@example.com", "not a valid email address"),
        7: ("timezone", "Paris", "Unknown time zone"),
        8: ("phone", "call me", "not a phone number"),
        9: ("score", "1e999", "finite number"),
    }
    header = ["external_id", "email", "phone", "timezone", "score", "since", "vip"]
    rows = [header]
    for n in range(100):
        row = {"external_id": f"c{n:03d}", "email": f"p{n}@example.com", "phone": "+33612345678",
               "timezone": "Europe/Paris", "score": str(n), "since": "2024-02-29", "vip": "yes"}
        if n % 10 == 0:
            column, value, _ = bad[n // 10]
            row[column] = value
        rows.append([row[h] for h in header])
    mapping = {h: h for h in header[:4]} | {h: f"attributes.{h}" for h in header[4:]}

    done = run_import(csv_text(rows), mapping, chunk_size=30)

    # then 90 profiles exist, fully written; each bad row is in the error file with its reason
    assert (done.processed_rows, done.imported_rows, done.error_rows) == (100, 90, 10)
    assert Profile.objects.count() == 90
    good = Profile.objects.get(external_id="c001")
    assert (good.phone, good.timezone) == ("+33612345678", "Europe/Paris")
    assert good.attributes == {"score": 1, "since": "2024-02-29", "vip": True}
    reported = {row["line"]: row for row in error_rows(done)}
    for index, (column, value, reason) in bad.items():
        line = str(index * 10 + 2)  # the header is line 1
        assert reported[line]["column"] == column
        assert reason in reported[line]["reason"]
        assert value in reported[line]["raw"]
        assert not Profile.objects.filter(external_id=f"c{index * 10:03d}").exists()


def test_a_bad_row_is_not_half_written(run_import):
    # given a known profile, and a row for it with good values next to one bad value
    ProfileFactory(external_id="c1", first_name="Old", phone="", attributes={"plan": "free"})
    content = csv_text([["external_id", "first_name", "phone", "plan", "consent"],
                        ["c1", "New", "not a phone", "pro", "yes"]])

    done = run_import(content, {"external_id": "external_id", "first_name": "first_name",
                                "phone": "phone", "plan": "attributes.plan",
                                "consent": "consent.email"})

    # then nothing of the row was applied: not the name, the attribute, nor the consent
    profile = Profile.objects.get(external_id="c1")
    assert (profile.first_name, profile.attributes) == ("Old", {"plan": "free"})
    assert not Consent.objects.exists() and not ConsentChange.objects.exists()
    assert (done.imported_rows, done.error_rows) == (0, 1)


def test_running_the_same_file_again_changes_nothing(run_import):
    content = csv_text([
        ["external_id", "email", "plan", "consent_email"],
        ["c1", "ann@example.com", "pro", "yes"],
        ["c2", "bob@example.com", "free", "no"],
    ])
    mapping = {"external_id": "external_id", "email": "email", "plan": "attributes.plan",
               "consent_email": "consent.email"}
    run_import(content, mapping)
    before = list(Profile.objects.order_by("id").values())
    changes = ConsentChange.objects.count()

    again = run_import(content, mapping)

    assert again.message.startswith("2 row(s) imported (0 created, 0 updated, 2 unchanged)")
    assert list(Profile.objects.order_by("id").values()) == before  # updated_at included
    assert ConsentChange.objects.count() == changes == 2


def test_an_empty_cell_leaves_the_value_and_attributes_merge(run_import):
    ProfileFactory(external_id="c1", email="old@example.com", first_name="Ann",
                   attributes={"plan": "free", "city": "Lyon"})
    content = "external_id,email,first_name,plan\nc1,,Annie,pro\n"
    mapping = {"external_id": "external_id", "email": "email", "first_name": "first_name",
               "plan": "attributes.plan"}

    run_import(content, mapping)

    profile = Profile.objects.get(external_id="c1")
    assert (profile.email, profile.first_name) == ("old@example.com", "Annie")
    assert profile.attributes == {"plan": "pro", "city": "Lyon"}


def test_a_chunk_mixing_new_and_known_keys_creates_and_updates(run_import):
    ProfileFactory(external_id="c1", first_name="Old")

    done = run_import("external_id,first_name\nc1,New\nc2,Bea\n",
                      {"external_id": "external_id", "first_name": "first_name"})

    assert dict(Profile.objects.values_list("external_id", "first_name")) == {
        "c1": "New", "c2": "Bea"}
    assert "(1 created, 1 updated, 0 unchanged)" in done.message


def test_a_key_repeated_in_a_chunk_keeps_the_last_row(run_import):
    content = "external_id,first_name\nc1,First\nc2,Other\nc1,Last\n"

    done = run_import(content, {"external_id": "external_id", "first_name": "first_name"})

    assert Profile.objects.get(external_id="c1").first_name == "Last"
    assert "1 row(s) repeated a key: the last one won." in done.message


def test_consent_changes_are_recorded_only_where_the_state_changes(run_import):
    newsletter = Topic.objects.create(key="newsletter", name="Newsletter")
    kept = ProfileFactory(external_id="c1")
    Consent.objects.create(profile=kept, channel="email", state=ConsentState.OPTED_IN,
                           updated_at="2024-01-01T00:00:00Z")
    content = csv_text([
        ["external_id", "email_consent", "sms_consent", "newsletter"],
        ["c1", "opted_in", "0", "TRUE"],
        ["c2", "no", "", "yes"],
    ])
    mapping = {"external_id": "external_id", "email_consent": "consent.email",
               "sms_consent": "consent.sms", "newsletter": "topic.newsletter"}

    done = run_import(content, mapping)

    c2 = Profile.objects.get(external_id="c2")
    states = {(c.profile.external_id, c.channel, c.topic_id): c.state
              for c in Consent.objects.select_related("profile")}
    assert states == {
        ("c1", "email", None): "opted_in", ("c1", "sms", None): "opted_out",
        ("c1", "email", newsletter.pk): "opted_in",
        ("c2", "email", None): "opted_out", ("c2", "email", newsletter.pk): "opted_in",
    }
    history = ConsentChange.objects.filter(source=f"import:{done.pk}")
    assert history.count() == 4  # c1's email consent was already opted in
    assert history.get(profile=c2, topic=None).previous_state == "unknown"


def test_a_bad_consent_value_is_reported(run_import):
    done = run_import("external_id,consent\nc1,perhaps\n",
                      {"external_id": "external_id", "consent": "consent.email"})

    [error] = error_rows(done)
    assert error["column"] == "consent"
    assert "'perhaps' is not a consent value" in error["reason"]
    assert not Profile.objects.exists()


class TestEmailKey:
    MAPPING = {"email": "email", "first_name": "first_name"}

    def test_matches_lower_case_email_and_creates_the_others_without_external_id(
        self, run_import
    ):
        known = ProfileFactory(external_id="c1", email="Ann@Example.com", first_name="A")
        content = "email,first_name\nann@EXAMPLE.com,Ann\nnew@example.com,New\n"

        done = run_import(content, self.MAPPING, key="email")

        known.refresh_from_db()
        assert (known.external_id, known.first_name) == ("c1", "Ann")
        created = Profile.objects.get(email="new@example.com")
        assert (created.external_id, created.first_name) == (None, "New")
        assert "(1 created, 1 updated, 0 unchanged)" in done.message

    def test_an_email_held_by_two_profiles_is_reported_not_guessed(self, run_import):
        ProfileFactory(external_id="c1", email="twin@example.com", first_name="One")
        ProfileFactory(external_id="c2", email="TWIN@example.com", first_name="Two")
        content = "email,first_name\ntwin@example.com,Changed\nsolo@example.com,Solo\n"

        done = run_import(content, self.MAPPING, key="email")

        assert (done.imported_rows, done.error_rows) == (1, 1)
        assert set(Profile.objects.values_list("first_name", flat=True)) == {"One", "Two", "Solo"}
        [error] = error_rows(done)
        assert (error["line"], error["column"]) == ("2", "email")
        assert "2 profiles have this email" in error["reason"]

    def test_rerunning_creates_no_duplicates(self, run_import):
        content = "email,first_name\nann@example.com,Ann\n"
        run_import(content, self.MAPPING, key="email")

        run_import(content, self.MAPPING, key="email")

        assert Profile.objects.filter(email="ann@example.com").count() == 1

    def test_consent_reaches_matched_and_created_profiles(self, run_import):
        known = ProfileFactory(email="ann@example.com")
        content = "email,newsletter\nANN@example.com,yes\nnew@example.com,no\n"

        run_import(content, {"email": "email", "newsletter": "consent.email"}, key="email")

        created = Profile.objects.get(email="new@example.com")
        assert dict(Consent.objects.values_list("profile_id", "state")) == {
            known.pk: "opted_in", created.pk: "opted_out"}
        assert ConsentChange.objects.count() == 2

    def test_external_id_cannot_be_mapped_with_the_email_key(self, upload):
        profile_import = upload("email,external_id\nann@example.com,c1\n")

        with pytest.raises(MappingError) as refused:
            import_configure(profile_import=profile_import, upsert_key="email",
                             mapping={"email": "email", "external_id": "external_id"})

        assert "choose the external_id key" in refused.value.errors["external_id"]


def test_cancel_mid_way_keeps_committed_chunks(upload):
    # given 50 rows imported in chunks of 10
    rows = [["external_id"]] + [[f"c{n:02d}"] for n in range(50)]
    profile_import = upload(csv_text(rows))
    import_configure(profile_import=profile_import, mapping={"external_id": "external_id"},
                     upsert_key="external_id")
    import_start(profile_import=profile_import, enqueue=False)
    seen = []

    def cancel_after_the_second_chunk(progress: ProfileImport) -> None:
        seen.append(progress.processed_rows)
        if len(seen) == 2:
            import_cancel(profile_import=progress)

    # when a cancel is requested while it runs
    done = import_run(import_id=profile_import.pk, chunk_size=10,
                      on_progress=cancel_after_the_second_chunk)

    # then it stops at the chunk boundary; committed chunks stay, the rest is never read
    assert done.status == ProfileImport.Status.CANCELLED
    assert seen == [10, 20]
    assert Profile.objects.count() == done.imported_rows == 20
    assert "Rows before the cancel stay imported." in done.message


def test_cancel_before_the_job_starts_means_it_never_runs(upload):
    profile_import = upload("external_id\nc1\n")
    import_configure(profile_import=profile_import, mapping={"external_id": "external_id"},
                     upsert_key="external_id")
    import_start(profile_import=profile_import, enqueue=False)
    import_cancel(profile_import=profile_import)

    done = import_run(import_id=profile_import.pk)

    assert done.status == ProfileImport.Status.CANCELLED
    assert not Profile.objects.exists()


def test_a_crash_marks_the_import_failed_with_the_message(upload):
    profile_import = upload("external_id\nc1\n")
    import_configure(profile_import=profile_import, mapping={"external_id": "external_id"},
                     upsert_key="external_id")
    import_start(profile_import=profile_import, enqueue=False)
    profile_import.file.storage.delete(profile_import.file.name)  # the file vanished

    with pytest.raises(FileNotFoundError):
        import_run(import_id=profile_import.pk)

    profile_import.refresh_from_db()
    assert profile_import.status == ProfileImport.Status.FAILED
    assert profile_import.message.startswith("The import failed:")
    assert profile_import.finished_at is not None


def test_each_import_is_audited_with_who_file_and_counts(upload):
    user = UserFactory(username="maria")
    profile_import = upload("external_id,email\nc1,ann@example.com\nc2,nope\n", user=user)
    import_configure(profile_import=profile_import, mapping={"external_id": "external_id",
                     "email": "email"}, upsert_key="external_id")
    import_start(profile_import=profile_import, user=user, enqueue=False)

    import_run(import_id=profile_import.pk)

    finish = AuditLog.objects.get(action="profile_import.finish")
    assert (finish.actor_user, finish.actor, finish.target_id) == (user, "maria",
                                                                    str(profile_import.pk))
    assert finish.detail["file"] == "people.csv"
    assert (finish.detail["imported"], finish.detail["errors"]) == (1, 1)
    assert AuditLog.objects.filter(action="profile_import.start", actor_user=user).exists()


def test_a_second_job_for_the_same_import_does_nothing(run_import):
    done = run_import("external_id\nc1\n", {"external_id": "external_id"})

    again = import_run(import_id=done.pk)

    assert again.status == ProfileImport.Status.COMPLETED
    assert AuditLog.objects.filter(action="profile_import.finish").count() == 1


def test_special_characters_survive_the_copy(run_import):
    name = 'O\'Brien, "Bob" \\ the\tbuilder'
    content = csv_text([["external_id", "first_name", "note"], ["c1", name, "a\\N,b"]])

    run_import(content, {"external_id": "external_id", "first_name": "first_name",
                         "note": "attributes.note"})

    profile = Profile.objects.get(external_id="c1")
    assert (profile.first_name, profile.attributes) == (name, {"note": "a\\N,b"})

"""Import profiles from a CSV file, synchronously, with the same service as the UI and API.

    manage.py import_profiles FILE --key external_id --map "Email=email" \
        --map "Plan=attributes.plan" [--delimiter ';']

Without --map, the columns are mapped as the upload page would suggest (printed first).
"""

from __future__ import annotations

from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from profiles.imports import (
    DELIMITERS,
    ImportFileError,
    MappingError,
    import_configure,
    import_run,
    import_start,
    import_upload,
)

DELIMITER_NAMES = {name: char for char, name in DELIMITERS.items()}


class Command(BaseCommand):
    help = "Import profiles from a CSV file (runs in this process, prints counts)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--key", choices=["external_id", "email"], default="external_id",
                            help="The upsert key (default: external_id).")
        parser.add_argument("--map", action="append", default=[], metavar="COLUMN=TARGET",
                            help="Column header → target (email, attributes.plan, "
                                 "consent.email, topic.newsletter, skip…); repeatable.")
        parser.add_argument("--delimiter", help="comma, semicolon, tab, pipe, or the character.")
        parser.add_argument("--chunk-size", type=int, help="Rows per transaction.")

    def handle(self, *args, file: Path, key: str, map: list[str], delimiter: str | None,
               chunk_size: int | None, **options):
        if not file.is_file():
            raise CommandError(f"No file {file}.")
        if delimiter is not None:
            delimiter = DELIMITER_NAMES.get(delimiter, delimiter.replace("\\t", "\t"))
        try:
            with file.open("rb") as stream:
                profile_import = import_upload(
                    file=File(stream), original_name=file.name, delimiter=delimiter
                )
            mapping = _parse_mapping(map) if map else profile_import.mapping
            if not map:
                self.stdout.write("Mapping (suggested from the header):")
                for header, target in mapping.items():
                    self.stdout.write(f"  {header} → {target}")
            import_configure(profile_import=profile_import, mapping=mapping, upsert_key=key)
            import_start(profile_import=profile_import, enqueue=False)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        except MappingError as exc:
            problems = "\n".join(f"  {column}: {reason}" for column, reason in exc.errors.items())
            raise CommandError(f"The mapping cannot be used:\n{problems}") from None
        try:
            profile_import = import_run(
                import_id=profile_import.pk, chunk_size=chunk_size,
                on_progress=lambda p: self.stderr.write(
                    f"  {p.processed_rows:,} rows read, {p.error_rows:,} with errors"
                ),
            )
        except Exception as exc:
            raise CommandError(f"Import #{profile_import.pk} failed: {exc}") from exc
        self.stdout.write(f"Import #{profile_import.pk}: {profile_import.status}")
        self.stdout.write(profile_import.message)
        self.stdout.write(
            f"processed={profile_import.processed_rows} imported={profile_import.imported_rows} "
            f"errors={profile_import.error_rows}"
        )
        if profile_import.error_rows:
            self.stdout.write(f"Error file: {profile_import.error_file.path}")


def _parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        column, sep, target = pair.rpartition("=")
        if not sep or not column.strip():
            raise CommandError(f"--map {pair!r}: use COLUMN=TARGET, e.g. Email=email.")
        mapping[column.strip()] = target.strip()
    return mapping

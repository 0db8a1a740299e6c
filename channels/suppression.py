"""The global suppression list: addresses nothing is sent to, whichever profile holds them.

Keyed by the normalized address (an email lower-cased whole, a phone in E.164), never by the
profile, so re-importing or re-creating a profile with a suppressed address changes nothing.
The delivery policy reads it through `is_suppressed` / `address_key`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import QuerySet

from channels.models import AddressKind, Channel, Suppression
from profiles.fields import FieldError, normalize_email, normalize_phone

IMPORT_MAX_ROWS = 100_000
EMAIL_COLUMNS = ("email", "e-mail", "email_address", "address")
PHONE_COLUMNS = ("phone", "phone_number", "mobile", "msisdn")
# The kind of address each channel's deliveries go to, for the channels that have one here.
ADDRESS_KINDS = {Channel.EMAIL: AddressKind.EMAIL, Channel.SMS: AddressKind.PHONE}


class SuppressionError(ValueError):
    pass


def address_key(*, kind: str, address: str) -> str:
    """The form an address is suppressed under. Raises FieldError when it is not one.

    Emails are lower-cased whole: mailbox providers treat the local part case-insensitively,
    and suppressing `Ann@x` must also cover `ann@x`.
    """
    if kind == AddressKind.EMAIL:
        return normalize_email(address).lower()
    if kind == AddressKind.PHONE:
        return normalize_phone(address)
    raise SuppressionError(f"Unknown address kind {kind!r}: use email or phone.")


def suppress(*, kind: str, address: str, cause: str, note: str = "") -> tuple[Suppression, bool]:
    """Suppress an address (idempotent: an existing suppression keeps its first cause).
    Returns (suppression, created)."""
    key = address_key(kind=kind, address=address)
    if not key:
        raise FieldError("An address is required.")
    if cause not in Suppression.Cause.values:
        raise SuppressionError(f"Unknown cause {cause!r}.")
    return Suppression.objects.get_or_create(
        kind=kind, address=key, defaults={"cause": cause, "note": note[:1000]}
    )


def unsuppress(*, kind: str, address: str) -> bool:
    """Lift a suppression; True when one was removed."""
    try:
        key = address_key(kind=kind, address=address)
    except FieldError:
        key = address.strip().lower()  # a row stored before stricter validation can still go
    deleted, _ = Suppression.objects.filter(kind=kind, address=key).delete()
    return deleted > 0


def is_suppressed(*, kind: str, address: str) -> bool:
    try:
        key = address_key(kind=kind, address=address)
    except FieldError:
        return False
    return bool(key) and Suppression.objects.filter(kind=kind, address=key).exists()


def suppression_search(*, query: str = "", kind: str = "", cause: str = "") -> QuerySet:
    rows = Suppression.objects.order_by("-created_at", "-id")
    if kind:
        rows = rows.filter(kind=kind)
    if cause:
        rows = rows.filter(cause=cause)
    if query.strip():
        rows = rows.filter(address__contains=query.strip().lower())
    return rows


@dataclass
class ImportResult:
    added: int = 0
    already: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)


def suppressions_import(*, stream: Iterable[str] | io.TextIOBase, note: str = "") -> ImportResult:
    """Import addresses from a CSV with an email and/or phone column: good rows are kept,
    each bad row is reported with its line number."""
    reader = csv.DictReader(stream)
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    email_col = next((columns[c] for c in EMAIL_COLUMNS if c in columns), None)
    phone_col = next((columns[c] for c in PHONE_COLUMNS if c in columns), None)
    if email_col is None and phone_col is None:
        raise SuppressionError("The file needs an 'email' or a 'phone' column.")
    result = ImportResult()
    wanted: dict[tuple[str, str], None] = {}
    for line, row in enumerate(reader, start=2):
        if line > IMPORT_MAX_ROWS + 1:
            result.errors.append((line, f"Only the first {IMPORT_MAX_ROWS} rows are read."))
            break
        cells = [(AddressKind.EMAIL, row.get(email_col) if email_col else None),
                 (AddressKind.PHONE, row.get(phone_col) if phone_col else None)]
        cells = [(kind, (value or "").strip()) for kind, value in cells if (value or "").strip()]
        if not cells:
            result.errors.append((line, "No address on this row."))
            continue
        for kind, value in cells:
            try:
                wanted[(kind, address_key(kind=kind, address=value))] = None
            except FieldError as exc:
                result.errors.append((line, str(exc)))
    with transaction.atomic():
        existing = _existing(wanted)
        Suppression.objects.bulk_create(
            [Suppression(kind=k, address=a, cause=Suppression.Cause.IMPORT, note=note[:1000])
             for k, a in wanted if (k, a) not in existing],
            ignore_conflicts=True, batch_size=2000,  # a concurrent add of the same row wins
        )
    result.already = len(existing)
    result.added = len(wanted) - len(existing)
    return result


def _existing(wanted: dict[tuple[str, str], None]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    keys = list(wanted)
    for start in range(0, len(keys), 5000):
        chunk = keys[start:start + 5000]
        for kind in {k for k, _ in chunk}:
            addresses = [a for k, a in chunk if k == kind]
            found |= {(kind, a) for a in Suppression.objects.filter(
                kind=kind, address__in=addresses).values_list("address", flat=True)}
    return found

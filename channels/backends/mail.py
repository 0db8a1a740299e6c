"""Direct-mail adapter: a batch writes one CSV file for the print house.

The file (a MailExport row) is created on the first message of a batch, under
MEDIA_ROOT/mail-exports/YYYY/MM/ — never served publicly, downloaded through a
permission-checked view. Columns: delivery_id, message_id, name, address_line1,
address_line2, postal_code, city, country, letter.

The address comes from `content` when the pipeline put it there (keys as the columns),
otherwise from the profile's attributes address_line1, address_line2, postal_code, city and
country (`postal_address`); the name is `Outbound.address` (the recipient's name), or the
profile's full name. A message without address_line1, postal_code and city fails
permanently.

`send` returns "<export id>:<row>" as the provider id. On leaving the batch the file is
closed, its count saved, and the deliveries written to it are marked `exported` with
mail_export set (`mark_exported`, in __exit__; set-based, from sending or sent).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from channels.backends.base import ChannelBackend, DeliveryError, Outbound
from channels.models import Delivery, DeliveryEvent, DeliveryStatus, MailExport

ADDRESS_FIELDS = ("address_line1", "address_line2", "postal_code", "city", "country")
REQUIRED_FIELDS = ("address_line1", "postal_code", "city")
COLUMNS = ("delivery_id", "message_id", "name", *ADDRESS_FIELDS, "letter")
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def postal_address(profile) -> dict[str, str]:
    """The postal address fields of a profile, from its attributes."""
    attributes = profile.attributes or {}
    return {key: str(attributes.get(key) or "").strip() for key in ADDRESS_FIELDS}


class MailFileBackend(ChannelBackend):
    channel = "mail"

    def __enter__(self) -> MailFileBackend:
        self.export: MailExport | None = None
        self.delivery_ids: list[int] = []
        self._file = None
        self._writer = None
        return self

    def send(self, message: Outbound) -> str:
        if getattr(self, "delivery_ids", None) is None:
            raise DeliveryError("MailFileBackend is used as a context manager.", permanent=True)
        fields = self._address(message)
        missing = [key for key in REQUIRED_FIELDS if not fields.get(key)]
        if missing:
            raise DeliveryError(f"Incomplete postal address: no {', '.join(missing)}.",
                                permanent=True)
        if self._writer is None:
            self._open()
        row = {
            "delivery_id": message.delivery_id, "message_id": message.message_id,
            **fields, "letter": message.content.get("letter", ""),
        }
        self._writer.writerow({key: _cell(value) for key, value in row.items()})
        self.delivery_ids.append(message.delivery_id)
        return f"{self.export.pk}:{len(self.delivery_ids)}"

    def __exit__(self, *exc_info) -> None:
        if self._file is None:
            return None
        self._file.close()
        self._file = self._writer = None
        self.export.count = len(self.delivery_ids)
        self.export.save(update_fields=["count"])
        # Whatever was written is in the file, so it counts as exported even if the batch
        # stopped early on an exception.
        mark_exported(export=self.export, delivery_ids=self.delivery_ids)
        return None

    def _address(self, message: Outbound) -> dict[str, str]:
        content = message.content
        if any(content.get(key) for key in ADDRESS_FIELDS):
            fields = {key: str(content.get(key) or "").strip() for key in ADDRESS_FIELDS}
            name = message.address or content.get("name", "")
        else:
            delivery = (
                Delivery.objects.select_related("profile").filter(pk=message.delivery_id).first()
            )
            profile = delivery.profile if delivery else None
            if profile is None:
                raise DeliveryError("No profile to take a postal address from.", permanent=True)
            fields = postal_address(profile)
            name = message.address or profile.full_name
        return {"name": name, **fields}

    def _open(self) -> None:
        now = timezone.now()
        export = MailExport.objects.create()
        name = f"{settings.MAIL_EXPORT_DIR}/{now:%Y/%m}/mail-{export.pk}-{now:%Y%m%d-%H%M%S}.csv"
        path = Path(settings.MEDIA_ROOT) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        export.file.name = name
        export.save(update_fields=["file"])
        self.export = export
        self._file = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS)
        self._writer.writeheader()


def mark_exported(*, export: MailExport, delivery_ids: Sequence[int]) -> int:
    """Mark deliveries written to `export` as exported (from sending or sent), with one log
    row each; return how many changed. Set-based, safe to call twice."""
    if not delivery_ids:
        return 0
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE channels_delivery
               SET status = %s, mail_export_id = %s, sent_at = COALESCE(sent_at, %s),
                   updated_at = %s
             WHERE id = ANY(%s) AND status IN (%s, %s)
         RETURNING id
            """,
            [DeliveryStatus.EXPORTED, export.pk, now, now, list(delivery_ids),
             DeliveryStatus.SENDING, DeliveryStatus.SENT],
        )
        changed = [row[0] for row in cursor.fetchall()]
        DeliveryEvent.objects.bulk_create(
            DeliveryEvent(delivery_id=pk, status=DeliveryStatus.EXPORTED, occurred_at=now,
                          detail=f"Mail export {export.pk}")
            for pk in changed
        )
    return len(changed)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text

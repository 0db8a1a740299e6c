"""The attribute schema and the subscription topics: what marketers and admins declare.

Keys are immutable once created: stored attribute values, segment rules, consent rows and
integrations name them. Deleting a definition keeps the values profiles hold; they become
untyped (PROFILE_UNKNOWN_ATTRIBUTES decides whether new writes of that key are still taken).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from profiles.attribute_indexes import attribute_indexes_request_sync
from profiles.attributes import AttributeSpec, coerce_value
from profiles.models import AttributeDefinition, AttributeType, Topic

MAX_ALLOWED_VALUES = 500


class SchemaError(ValueError):
    """Field → message for every unusable value; nothing was written."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def parse_allowed_values(*, type: str, text: str) -> list[Any]:
    """"gold, silver" → the list of allowed values, each coerced to the attribute's type."""
    items = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not items:
        return []
    if type == AttributeType.BOOLEAN:
        raise SchemaError({"allowed_values": "A yes / no attribute has no list of values."})
    if len(items) > MAX_ALLOWED_VALUES:
        raise SchemaError({"allowed_values": f"At most {MAX_ALLOWED_VALUES} values."})
    # A list attribute allows some strings as its items: each item is checked as text.
    item_type = AttributeType.STRING if type == AttributeType.LIST else type
    values = []
    for item in items:
        try:
            value = coerce_value(item, AttributeSpec("", item_type))
        except ValueError as exc:
            raise SchemaError({"allowed_values": f"{item!r}: {exc}"}) from None
        if value not in values:
            values.append(value)
    return values


def format_allowed_values(values: list[Any]) -> str:
    return ", ".join(str(v) for v in values or [])


def attribute_definition_save(
    *, definition: AttributeDefinition | None = None, key: str, label: str, type: str,
    allowed_values: list[Any], description: str = "",
) -> AttributeDefinition:
    """Create a definition, or change one's label, type, allowed values and description."""
    if definition is not None and key != definition.key:
        raise SchemaError({"key": "The key cannot change once created."})
    if type not in AttributeType.values:
        raise SchemaError({"type": f"Unknown type {type!r}."})
    target = definition or AttributeDefinition(key=key)
    target.label, target.type, target.description = label, type, description
    target.allowed_values = list(allowed_values)
    _full_clean(target)
    with transaction.atomic():
        target.save()
        attribute_indexes_request_sync()  # a changed type needs its index rebuilt
    return target


def attribute_definition_delete(*, definition: AttributeDefinition) -> None:
    with transaction.atomic():
        definition.delete()
        attribute_indexes_request_sync()


def topic_save(
    *, topic: Topic | None = None, key: str, name: str, channel: str, description: str = "",
) -> Topic:
    if topic is not None and key != topic.key:
        raise SchemaError({"key": "The key cannot change once created."})
    target = topic or Topic(key=key)
    target.name, target.channel, target.description = name, channel, description
    _full_clean(target)
    target.save()
    return target


def _full_clean(instance) -> None:
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise SchemaError(
            {field: " ".join(messages) for field, messages in exc.message_dict.items()}
        ) from None

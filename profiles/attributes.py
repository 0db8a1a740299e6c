"""Custom attributes against their declared schema: validate and coerce. Pure: no database.

Stored JSON keeps one shape per type so segments can cast reliably: numbers as JSON numbers,
booleans as JSON booleans, dates as "YYYY-MM-DD", datetimes as ISO 8601 in UTC, lists as
lists of strings. A None value removes the attribute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from profiles.models import AttributeType
from profiles.segments import ATTRIBUTE_KEY

TRUE_WORDS = {"true", "yes", "1", "y", "on"}
FALSE_WORDS = {"false", "no", "0", "n", "off"}
MAX_STRING = 2000
MAX_LIST = 200


@dataclass(frozen=True)
class AttributeSpec:
    key: str
    type: str
    allowed_values: tuple = ()


class AttributeErrors(ValueError):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def coerce_attributes(
    values: Mapping[str, Any], specs: Mapping[str, AttributeSpec], *, unknown: str = "store"
) -> dict[str, Any]:
    """Return the coerced attributes or raise AttributeErrors naming every bad key."""
    if not isinstance(values, Mapping):
        raise AttributeErrors({"attributes": "Attributes must be a JSON object."})
    clean, errors = {}, {}
    for key, value in values.items():
        if not isinstance(key, str) or not ATTRIBUTE_KEY.match(key):
            errors[str(key)] = "Use letters, digits and _ (up to 64), not starting with a digit."
            continue
        spec = specs.get(key)
        if spec is None:
            if unknown == "reject":
                errors[key] = "Unknown attribute: declare it in the attribute schema first."
            else:
                clean[key] = _untyped(value)
            continue
        try:
            clean[key] = None if value is None else coerce_value(value, spec)
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise AttributeErrors(errors)
    return clean


def coerce_value(value: Any, spec: AttributeSpec) -> Any:
    coerced = _COERCERS[spec.type](value)
    if spec.allowed_values:
        items = coerced if isinstance(coerced, list) else [coerced]
        outside = [v for v in items if v not in spec.allowed_values]
        if outside:
            allowed = ", ".join(map(str, spec.allowed_values))
            raise ValueError(f"{outside[0]!r} is not one of the allowed values ({allowed}).")
    return coerced


def _string(value: Any) -> str:
    if isinstance(value, dict | list | bool):
        raise ValueError("Expected text.")
    text = str(value).strip()
    if len(text) > MAX_STRING:
        raise ValueError(f"Text is limited to {MAX_STRING} characters.")
    return text


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("Expected a number, got true/false.")
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            raise ValueError(f"Expected a number, got {value!r}.") from None
    else:
        raise ValueError("Expected a number.")
    if not math.isfinite(number):
        raise ValueError("Expected a finite number.")
    return int(number) if float(number).is_integer() and abs(number) < 2**53 else float(number)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError(f"Expected true or false, got {value!r}.")


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            pass
    raise ValueError(f"Expected a date (YYYY-MM-DD), got {value!r}.")


def _datetime(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"Expected an ISO 8601 date and time, got {value!r}.") from None
    if not isinstance(value, datetime):
        raise ValueError("Expected an ISO 8601 date and time.")
    if value.tzinfo is None:
        raise ValueError("A date and time needs its UTC offset, e.g. 2026-05-01T09:30:00+02:00.")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, list | tuple):
        raise ValueError("Expected a list of text.")
    if len(value) > MAX_LIST:
        raise ValueError(f"At most {MAX_LIST} items.")
    return [_string(item) for item in value]


def _untyped(value: Any) -> Any:
    return value


_COERCERS = {
    AttributeType.STRING: _string,
    AttributeType.NUMBER: _number,
    AttributeType.BOOLEAN: _boolean,
    AttributeType.DATE: _date,
    AttributeType.DATETIME: _datetime,
    AttributeType.LIST: _list,
}

"""Column mapping of an import: targets, suggestions, validation, and the row cleaner.

Pure: no database. The caller passes the declared attribute specs and the topics. A row is
cleaned with the same functions the API uses (profiles.services.clean_profile_data, which
calls profiles.fields and profiles.attributes.coerce_attributes), plus the column limits of
the profile table, so a row that passes can never fail in the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from profiles.attributes import AttributeSpec
from profiles.models import ConsentChannel, ConsentState, Profile
from profiles.segments import ATTRIBUTE_KEY
from profiles.services import ProfileDataError, clean_profile_data

SKIP = "skip"
KEYS = ("external_id", "email")
FIELDS = ("external_id", "email", "phone", "first_name", "last_name", "timezone", "locale")
FIELD_LABELS = {
    "external_id": "External id", "email": "Email", "phone": "Phone",
    "first_name": "First name", "last_name": "Last name", "timezone": "Time zone",
    "locale": "Locale",
}
MAX_LENGTHS = {name: Profile._meta.get_field(name).max_length for name in FIELDS}
SINGLE_LINE = ("external_id", "first_name", "last_name")
CONSENT_WORDS = {
    "opted_in": ConsentState.OPTED_IN, "yes": ConsentState.OPTED_IN,
    "true": ConsentState.OPTED_IN, "1": ConsentState.OPTED_IN,
    "opted_out": ConsentState.OPTED_OUT, "no": ConsentState.OPTED_OUT,
    "false": ConsentState.OPTED_OUT, "0": ConsentState.OPTED_OUT,
}
ROW = "(row)"  # the "column" of a problem with the whole row
E164 = re.compile(r"\+[1-9]\d{6,14}")

_SYNONYMS = {
    "external_id": {"external_id", "externalid", "ext_id", "id", "customer_id", "customerid",
                    "user_id", "userid", "client_id", "member_id", "contact_id"},
    "email": {"email", "e_mail", "email_address", "emailaddress", "mail", "courriel"},
    "phone": {"phone", "phone_number", "phonenumber", "mobile", "mobile_phone", "mobile_number",
              "cell", "cell_phone", "telephone", "tel", "msisdn"},
    "first_name": {"first_name", "firstname", "given_name", "forename", "first", "prenom"},
    "last_name": {"last_name", "lastname", "surname", "family_name", "last", "nom"},
    "timezone": {"timezone", "time_zone", "tz"},
    "locale": {"locale", "language", "lang", "language_code"},
}


@dataclass(frozen=True)
class TopicRef:
    id: int
    channel: str


class MappingError(ValueError):
    """Column header (or "upsert_key") → message, for the form and the API's 400."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _normal(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def target_choices(
    headers: list[str], specs: Mapping[str, AttributeSpec], topics: Mapping[str, TopicRef],
    *, unknown: str,
) -> dict[str, list[tuple[str, str]]]:
    """Per column, the targets a user may pick, grouped as Django choices want them."""
    common = [
        (SKIP, "— skip this column —"),
        ("Profile", [(name, label) for name, label in FIELD_LABELS.items()]),
        ("Attributes", [(f"attributes.{key}", f"{key} ({spec.type})")
                        for key, spec in sorted(specs.items())]),
        ("Consent", [(f"consent.{c.value}", f"{c.label} consent") for c in ConsentChannel]),
        ("Topics", [(f"topic.{key}", f"Topic: {key}") for key in sorted(topics)]),
    ]
    choices = {}
    for header in headers:
        own = list(common)
        new_key = new_attribute_key(header)
        if unknown == "store" and new_key and new_key not in specs:
            own.insert(1, (f"attributes.{new_key}", f"New attribute “{new_key}” (untyped)"))
        choices[header] = [c for c in own if not isinstance(c[1], list) or c[1]]
    return choices


def new_attribute_key(header: str) -> str:
    """The attribute key a column would create ("Loyalty tier" → loyalty_tier), or ""."""
    key = _normal(header)
    if key.startswith("attributes_"):
        key = key[len("attributes_"):]
    return key if ATTRIBUTE_KEY.match(key) else ""


def suggest_mapping(
    headers: list[str], specs: Mapping[str, AttributeSpec], topics: Mapping[str, TopicRef]
) -> dict[str, str]:
    """A first guess from the header names; unknown columns are skipped."""
    mapping, used = {}, set()
    declared = {key.lower(): key for key in specs}
    for header in headers:
        target = _suggest(header, declared, topics)
        if target in used:
            target = SKIP
        if target != SKIP:
            used.add(target)
        mapping[header] = target
    return mapping


def _suggest(header: str, declared: dict[str, str], topics: Mapping[str, TopicRef]) -> str:
    raw = header.strip().lower()
    name = _normal(header)
    for target, words in _SYNONYMS.items():
        if name in words:
            return target
    for prefix in ("attributes.", "consent.", "topic."):
        if raw.startswith(prefix):
            name = _normal(raw[len(prefix):])
            return f"{prefix}{declared.get(name, name)}" if prefix == "attributes." else (
                f"{prefix}{name}")
    for channel in ConsentChannel.values:
        if name in {f"{channel}_consent", f"consent_{channel}", f"{channel}_opt_in",
                    f"{channel}_optin", f"accepts_{channel}", f"{channel}_subscribed"}:
            return f"consent.{channel}"
    if name in declared:
        return f"attributes.{declared[name]}"
    if name in topics or name.removeprefix("topic_") in topics:
        return f"topic.{name.removeprefix('topic_')}"
    return SKIP


@dataclass
class Plan:
    """A validated mapping, compiled to column positions for the row cleaner."""

    upsert_key: str
    width: int
    key_index: int
    fields: list[tuple[int, str, str]] = field(default_factory=list)  # (index, header, name)
    attributes: list[tuple[int, str, str]] = field(default_factory=list)  # (…, key)
    consents: list[tuple[int, str, str, int | None]] = field(default_factory=list)  # channel, topic

    @property
    def has_consents(self) -> bool:
        return bool(self.consents)


def compile_mapping(
    *, headers: list[str], mapping: Any, upsert_key: str,
    specs: Mapping[str, AttributeSpec], topics: Mapping[str, TopicRef], unknown: str,
) -> Plan:
    """Check a mapping against the file's header; raise MappingError naming every problem."""
    errors: dict[str, str] = {}
    if upsert_key not in KEYS:
        raise MappingError({"upsert_key": "Choose external_id or email as the upsert key."})
    if not isinstance(mapping, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise MappingError({"mapping": "The mapping is an object: column header → target."})
    position = {header: index for index, header in enumerate(headers)}
    plan = Plan(upsert_key=upsert_key, width=len(headers), key_index=-1)
    used: dict[str, str] = {}
    for header, target in mapping.items():
        if header not in position:
            errors[header] = f"The file has no column “{header}”."
            continue
        target = target.strip()
        if target == SKIP or not target:
            continue
        problem = _check_target(target, specs, topics, unknown, upsert_key)
        if problem:
            errors[header] = problem
            continue
        if target in used:
            errors[header] = f"“{used[target]}” is already mapped to {target}."
            continue
        used[target] = header
        _place(plan, position[header], header, target, topics)
    if upsert_key not in used:
        errors["upsert_key"] = _missing_key_message(upsert_key, headers)
    else:
        plan.key_index = position[used[upsert_key]]
    if errors:
        raise MappingError(errors)
    return plan


def _check_target(target, specs, topics, unknown, upsert_key) -> str:
    kind, _, name = target.partition(".")
    if not name:
        if target not in FIELDS:
            return f"Unknown target “{target}”."
        if target == "external_id" and upsert_key == "email":
            return ("With the email key, external_id is not imported (new profiles get none); "
                    "choose the external_id key to set it.")
        return ""
    if kind == "attributes":
        if name in specs:
            return ""
        if not ATTRIBUTE_KEY.match(name):
            return f"“{name}” is not an attribute key (letters, digits and _)."
        if unknown != "store":
            return f"Unknown attribute “{name}”: declare it in the attribute schema first."
        return ""
    if kind == "consent":
        return "" if name in ConsentChannel.values else f"Unknown consent channel “{name}”."
    if kind == "topic":
        return "" if name in topics else f"Unknown topic “{name}”."
    return f"Unknown target “{target}”."


def _place(plan: Plan, index: int, header: str, target: str, topics) -> None:
    kind, _, name = target.partition(".")
    if not name:
        plan.fields.append((index, header, target))
    elif kind == "attributes":
        plan.attributes.append((index, header, name))
    elif kind == "consent":
        plan.consents.append((index, header, name, None))
    else:
        plan.consents.append((index, header, topics[name].channel, topics[name].id))


def _missing_key_message(upsert_key: str, headers: list[str]) -> str:
    message = (f"No column is mapped to {upsert_key}, the upsert key: map the column that "
               f"holds it.")
    if len(headers) == 1:
        others = [name for d, name in _DELIMITER_NAMES.items() if d in headers[0]]
        if others:
            message += (f" The file was read as a single column “{headers[0][:60]}”: is the "
                        f"delimiter a {others[0]}?")
    return message


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass(slots=True)
class CleanRow:
    key: str  # external_id, or the lower-cased email with the email key
    values: dict[str, str]  # profile fields present in the row (absent = left unchanged)
    attributes: dict[str, Any]
    consents: list[tuple[str, int | None, str]]  # (channel, topic id, state)


class RowCleaner:
    """Validates and normalizes one record with the API's rules; pure and reusable."""

    def __init__(self, plan: Plan, specs: Mapping[str, AttributeSpec]):
        self.plan = plan
        self.specs = specs
        self._field_header = {name: header for _, header, name in plan.fields}
        self._attribute_header = {key: header for _, header, key in plan.attributes}

    def clean(self, fields: list[str]) -> tuple[CleanRow | None, dict[str, str]]:
        plan = self.plan
        if len(fields) != plan.width:
            return None, {ROW: _width_problem(len(fields), plan.width)}
        data: dict[str, Any] = {}
        for index, _, name in plan.fields:
            value = fields[index].strip()
            if value:
                data[name] = value
        attributes = {}
        for index, _, key in plan.attributes:
            value = fields[index].strip()
            if value:
                attributes[key] = value
        errors: dict[str, str] = {}
        external_id = data.pop("external_id", None)
        phone = valid_e164(data["phone"]) if "phone" in data else None
        if phone is not None:
            del data["phone"]
        if attributes:
            data["attributes"] = attributes
        try:
            values = clean_profile_data(data, specs=self.specs)
        except ProfileDataError as exc:
            self._collect(exc.errors, errors)
            # Still check the other cells, so the error file names every problem of the row.
            values = {k: v for k, v in data.items() if k not in exc.errors}
        attributes = values.pop("attributes", None) or {}
        if external_id is not None:
            values["external_id"] = external_id
        if phone is not None:
            values["phone"] = phone
        self._check_limits(values, errors)
        consents = []
        for index, header, channel, topic_id in plan.consents:
            word = fields[index].strip()
            if not word:
                continue
            state = CONSENT_WORDS.get(word.lower())
            if state is None:
                errors[header] = (f"{word!r} is not a consent value: use opted_in/opted_out, "
                                  "yes/no, true/false or 1/0.")
            else:
                consents.append((channel, topic_id, state))
        key = values.get(plan.upsert_key, "")
        if not key:
            header = self._field_header[plan.upsert_key]
            errors.setdefault(header, f"The {plan.upsert_key} (the upsert key) is empty.")
        if errors:
            return None, errors
        if plan.upsert_key == "email":
            key = key.lower()
        return CleanRow(key, values, attributes, consents), errors

    def _collect(self, problems: dict[str, Any], errors: dict[str, str]) -> None:
        for name, message in problems.items():
            if name == "attributes" and isinstance(message, dict):
                for key, text in message.items():
                    errors[self._attribute_header.get(key, f"attributes.{key}")] = text
            else:
                errors[self._field_header.get(name, name)] = str(message)

    def _check_limits(self, values: dict[str, str], errors: dict[str, str]) -> None:
        for name, value in values.items():
            if len(value) > MAX_LENGTHS[name]:
                errors[self._field_header[name]] = f"At most {MAX_LENGTHS[name]} characters."
            elif name in SINGLE_LINE and ("\n" in value or "\r" in value):
                errors[self._field_header[name]] = "A line break is not allowed here."


def valid_e164(value: str) -> str | None:
    """The value itself when it is a valid number already written in E.164, else None.

    A shortcut past phonenumbers.parse (two thirds of the cost of normalize_phone) for the
    common case of files exported from systems that store E.164: the number is built from
    its country code and national digits and checked with phonenumbers.is_valid_number,
    the check normalize_phone ends with. Anything else (national formats, spaces, leading
    zeros the parser would strip or keep) returns None and takes the full normalize_phone
    path; tests/imports/test_mapping.py checks both paths agree on every region.
    """
    if not E164.fullmatch(value):
        return None
    digits = value[1:]
    for size in (1, 2, 3):  # country codes are prefix-free: the first known one is it
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if national.startswith("0"):
                return None
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
            return value if phonenumbers.is_valid_number(number) else None
    return None


def _width_problem(found: int, width: int) -> str:
    if found == 0:
        return "The row is empty."
    if found < width:
        return f"Missing columns: {found} value(s) where the header has {width}."
    return f"Too many values: {found} where the header has {width}."


def preview_values(plan: Plan, row: CleanRow) -> dict[str, str]:
    """Column header → the value its target receives from a cleaned row (for the preview)."""
    shown = {header: row.values.get(name, "") for _, header, name in plan.fields}
    for _, header, key in plan.attributes:
        value = row.attributes.get(key)
        shown[header] = "" if value is None else str(value)
    states = {(channel, topic): state for channel, topic, state in row.consents}
    for _, header, channel, topic in plan.consents:
        shown[header] = states.get((channel, topic), "")
    return shown

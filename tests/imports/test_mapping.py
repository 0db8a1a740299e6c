"""Mapping suggestions and the row cleaner (pure: no database)."""

import pytest

from profiles.attributes import AttributeSpec
from profiles.imports.mapping import (
    ROW,
    MappingError,
    RowCleaner,
    TopicRef,
    compile_mapping,
    suggest_mapping,
    target_choices,
)

SPECS = {"score": AttributeSpec("score", "number"), "Tier": AttributeSpec("Tier", "string")}
TOPICS = {"newsletter": TopicRef(7, "email")}


def test_suggestions_from_common_header_names():
    headers = ["Customer ID", "E-mail", "Mobile", "First Name", "surname", "Time zone",
               "Language", "SCORE", "tier", "Email opt-in", "newsletter", "attributes.color",
               "Favourite food"]

    assert suggest_mapping(headers, SPECS, TOPICS) == {
        "Customer ID": "external_id", "E-mail": "email", "Mobile": "phone",
        "First Name": "first_name", "surname": "last_name", "Time zone": "timezone",
        "Language": "locale", "SCORE": "attributes.score", "tier": "attributes.Tier",
        "Email opt-in": "consent.email", "newsletter": "topic.newsletter",
        "attributes.color": "attributes.color", "Favourite food": "skip",
    }


def test_a_target_is_suggested_once():
    assert suggest_mapping(["email", "mail"], SPECS, TOPICS) == {"email": "email", "mail": "skip"}


def test_a_new_untyped_attribute_is_offered_only_when_unknown_keys_are_stored():
    stored = target_choices(["Favourite food"], SPECS, TOPICS, unknown="store")
    rejected = target_choices(["Favourite food"], SPECS, TOPICS, unknown="reject")

    assert ("attributes.favourite_food", "New attribute “favourite_food” (untyped)") in (
        stored["Favourite food"])
    assert all(c[0] != "attributes.favourite_food" for c in rejected["Favourite food"])


def test_an_undeclared_attribute_is_refused_when_unknown_keys_are_rejected():
    with pytest.raises(MappingError) as refused:
        compile_mapping(headers=["id", "food"], mapping={"id": "external_id",
                        "food": "attributes.food"}, upsert_key="external_id", specs=SPECS,
                        topics=TOPICS, unknown="reject")

    assert refused.value.errors == {
        "food": "Unknown attribute “food”: declare it in the attribute schema first."
    }


def test_two_columns_cannot_share_a_target():
    with pytest.raises(MappingError) as refused:
        compile_mapping(headers=["id", "a", "b"], mapping={"id": "external_id", "a": "email",
                        "b": "email"}, upsert_key="external_id", specs=SPECS, topics=TOPICS,
                        unknown="store")

    assert refused.value.errors == {"b": "“a” is already mapped to email."}


def cleaner(mapping, headers, key="external_id"):
    plan = compile_mapping(headers=headers, mapping=mapping, upsert_key=key, specs=SPECS,
                           topics=TOPICS, unknown="store")
    return RowCleaner(plan, SPECS)


def test_a_row_is_normalized_with_the_api_rules():
    clean = cleaner({"id": "external_id", "phone": "phone", "locale": "locale",
                     "score": "attributes.score", "nl": "topic.newsletter"},
                    ["id", "phone", "locale", "score", "nl"])

    row, errors = clean.clean([" c1 ", "06 12 34 56 78", "fr_FR", "4,0", "Yes"])

    assert errors == {}
    assert (row.key, row.values) == ("c1", {"external_id": "c1", "phone": "+33612345678",
                                            "locale": "fr-FR"})
    assert row.attributes == {"score": 4}
    assert row.consents == [("email", 7, "opted_in")]


def test_every_bad_cell_of_a_row_is_named():
    clean = cleaner({"id": "external_id", "first": "first_name", "score": "attributes.score"},
                    ["id", "first", "score"])

    row, errors = clean.clean(["", "x" * 151, "ten"])

    assert row is None
    assert errors == {
        "id": "The external_id (the upsert key) is empty.",
        "first": "At most 150 characters.",
        "score": "Expected a number, got 'ten'.",
    }


def test_too_many_values_is_a_row_problem():
    row, errors = cleaner({"id": "external_id"}, ["id"]).clean(["c1", "extra"])

    assert row is None
    assert errors == {ROW: "Too many values: 2 where the header has 1."}


def test_the_e164_shortcut_agrees_with_normalize_phone_in_every_region():
    import random

    import phonenumbers

    from profiles.fields import FieldError, normalize_phone
    from profiles.imports.mapping import valid_e164

    # given example numbers of every type in every region, and near misses of each
    rng = random.Random(3)
    candidates = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in phonenumbers.PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            candidates.add(e164)
            for _ in range(3):
                digits = list(e164[1:])
                digits[rng.randrange(1, len(digits))] = str(rng.randrange(10))
                candidates.add("+" + "".join(digits))
            candidates |= {e164[:-1], e164 + "7"}

    # then whenever the shortcut accepts a number, the full path gives the same result
    accepted = 0
    for value in sorted(candidates):
        fast = valid_e164(value)
        if fast is None:
            continue
        accepted += 1
        try:
            slow = normalize_phone(value)
        except FieldError:
            slow = None
        assert fast == slow, value
    assert accepted > len(candidates) / 3  # the shortcut is taken, not vacuous

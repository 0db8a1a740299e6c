"""Attribute indexes: an admin marks an attribute indexed, a job builds the expression index the
compiled conditions can use (CONCURRENTLY), and unmarking drops it."""

import django_rq
import pytest
from django.db import connection
from rq import SimpleWorker

from profiles.attribute_indexes import (
    INDEX_PREFIX,
    STATS_PREFIX,
    attribute_index_state,
    attribute_indexes_sync,
    attribute_indexes_sync_job,
    index_specs,
)
from profiles.audiences import audience_queryset
from profiles.models import AttributeDefinition

ROWS = 20_000


def our_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                       "'profiles_profile' AND starts_with(indexname, %s)", [INDEX_PREFIX])
        return dict(cursor.fetchall())


@pytest.fixture
def clean_indexes(transactional_db):
    """CONCURRENTLY cannot run in a transaction: these tests commit, and drop what they built."""
    yield
    AttributeDefinition.objects.update(indexed=False)
    attribute_indexes_sync()
    assert our_indexes() == {}


@pytest.fixture
def population(clean_indexes):
    """ROWS profiles: ltv 0…9999 (a few hold text), signup dates over ~5 years."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO profiles_profile (external_id, email, phone, first_name, last_name,
                timezone, locale, attributes, created_at, updated_at)
            SELECT 'p' || g, '', '', '', '', 'UTC', '',
                   jsonb_build_object(
                       'ltv', CASE WHEN g %% 500 = 0 THEN to_jsonb('lots'::text)
                                   ELSE to_jsonb(g %% 10000) END,
                       'signup', to_char(date '2020-01-01' + g %% 1900, 'YYYY-MM-DD')),
                   now(), now()
              FROM generate_series(1, %s) g
            """,
            [ROWS],
        )


def plan(rules) -> str:
    return audience_queryset(rules).order_by().explain()


def test_a_range_on_an_indexed_number_uses_its_index(population):
    AttributeDefinition.objects.create(key="ltv", label="LTV", type="number", indexed=True)
    rules = {"all": [{"type": "attribute", "key": "ltv", "op": "gt", "value": 9990}]}
    assert INDEX_PREFIX not in plan(rules)

    changed = attribute_indexes_sync()

    (name,) = [spec.name for spec in index_specs(key="ltv", kind="number")]
    assert name in changed["created"]
    assert name in plan(rules)
    # Right rows, and a text value in a number attribute breaks nothing.
    assert audience_queryset(rules).count() == sum(
        1 for g in range(1, ROWS + 1) if g % 500 and g % 10000 > 9990)


def test_a_date_range_uses_the_index_of_an_indexed_date(population):
    AttributeDefinition.objects.create(key="signup", label="Signed up", type="date",
                                       indexed=True)
    rules = {"all": [{"type": "attribute", "key": "signup", "op": "between",
                      "value": ["2021-03-01", "2021-03-04"]}]}

    attribute_indexes_sync()

    (name,) = [spec.name for spec in index_specs(key="signup", kind="date")]
    assert name in plan(rules)
    assert audience_queryset(rules).count() == 4 * len(range(1, ROWS + 1, 1900))


def test_unmarking_an_attribute_drops_its_index_and_statistics(clean_indexes):
    definition = AttributeDefinition.objects.create(key="ltv", label="LTV", type="number",
                                                    indexed=True)
    attribute_indexes_sync()
    assert len(our_indexes()) == 1

    definition.indexed = False
    definition.save(update_fields=["indexed"])
    changed = attribute_indexes_sync()

    assert our_indexes() == {}
    assert any(name.startswith(STATS_PREFIX) for name in changed["dropped"])
    assert attribute_index_state(definition=definition).status == "none"


def test_an_index_left_invalid_by_a_failed_build_is_built_again(clean_indexes):
    definition = AttributeDefinition.objects.create(key="signup", label="Signed up",
                                                    type="date", indexed=True)
    attribute_indexes_sync()
    (name,) = our_indexes()
    with connection.cursor() as cursor:  # what a cancelled CREATE INDEX CONCURRENTLY leaves
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
                       [name])
    assert attribute_index_state(definition=definition).status == "building"

    changed = attribute_indexes_sync()

    assert name in changed["dropped"] and name in changed["created"]
    assert attribute_index_state(definition=definition).status == "built"


def test_the_rq_job_builds_the_indexes(clean_indexes, redis_conn):
    AttributeDefinition.objects.create(key="plan", label="Plan", type="string", indexed=True)
    queue = django_rq.get_queue("default")
    queue.enqueue(attribute_indexes_sync_job)

    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    assert set(our_indexes()) == {spec.name for spec in index_specs(key="plan", kind="string")}


def test_index_names_are_safe_distinct_and_short():
    long_key = "A" + "b" * 63
    names = {spec.name for key in ("plan", "Plan", long_key)
             for kind in ("number", "date", "datetime", "string", "list")
             for spec in index_specs(key=key, kind=kind)}

    assert len(names) == 3 * 6  # string has two indexes
    assert all(len(name) <= 63 and name.isascii() and name == name.lower() for name in names)
    assert index_specs(key="flag", kind="boolean") == []  # the attributes GIN index serves it

"""Expression indexes on hot attributes, built by a job when an admin marks one `indexed`.

Each index holds the very expression profiles.rules.compiler emits for the attribute's type,
so the planner can match a condition to it:

    number    (CASE WHEN jsonb_typeof(attributes -> 'k') = 'number'
                    THEN (attributes ->> 'k')::float8 END)           btree: <, ≤, >, ≥, between
    date      left(attributes ->> 'k', 10)                           btree: before/after/within
    datetime  left(attributes ->> 'k', 19)                           btree: the same
    string    (attributes ->> 'k')                                   btree: is one of
              lower(attributes ->> 'k') text_pattern_ops             btree: starts with
    list      (attributes -> 'k')                                    gin:   contains any/all
    boolean   nothing: `equals` is jsonb containment, served by profile_attributes_gin

The indexes are whole-table, not partial: the planner keeps statistics on the expression of
a whole-table index (not of a partial one), so it knows how many rows a range holds. Each
indexed attribute also gets statistics on its `jsonb_typeof` guard, which every one of those
conditions ANDs in. One job reconciles what exists with what is wanted (CREATE/DROP INDEX
CONCURRENTLY: the table stays writable), so a lost job or a double click changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import django_rq
from django.db import connection, transaction
from psycopg import sql

from profiles.models import AttributeDefinition, AttributeType

TABLE = "profiles_profile"
INDEX_PREFIX = "attr_index_"
STATS_PREFIX = "attr_stats_"
QUEUE = "default"
JOB_TIMEOUT = 3 * 3600  # a build over tens of millions of rows; only a stuck job hits it
# One reconciliation at a time (two CONCURRENTLY builds of one index would collide).
LOCK_ID = 0x17E5A77D


@dataclass(frozen=True)
class IndexSpec:
    name: str
    method: str  # btree | gin
    expression: sql.Composable  # one index element, parenthesized, with its opclass


@dataclass(frozen=True)
class IndexState:
    """What exists for one attribute: "built", "building" (or failed, invalid), "missing"."""

    key: str
    wanted: tuple[str, ...]
    built: tuple[str, ...]
    invalid: tuple[str, ...]

    @property
    def status(self) -> str:
        if not self.wanted:
            return "none"
        if set(self.wanted) <= set(self.built):
            return "built"
        return "building" if self.invalid else "missing"


def _name(prefix: str, key: str, kind: str, variant: str) -> str:
    """A readable name that is unique per (key, type, variant) and fits in 63 bytes."""
    slug = re.sub(r"[^a-z0-9_]", "", key.lower())[:30]
    digest = hashlib.sha256(f"{key}\0{kind}\0{variant}".encode()).hexdigest()[:10]
    return f"{prefix}{slug}_{digest}"


def index_specs(*, key: str, kind: str) -> list[IndexSpec]:
    k = sql.Literal(key)
    shapes: dict[str, list[tuple[str, str, str]]] = {
        AttributeType.NUMBER: [(
            "range", "btree",
            "((CASE WHEN jsonb_typeof(attributes -> {k}) = 'number' "
            "THEN (attributes ->> {k})::float8 END))",
        )],
        AttributeType.DATE: [("range", "btree", "(left(attributes ->> {k}, 10))")],
        AttributeType.DATETIME: [("range", "btree", "(left(attributes ->> {k}, 19))")],
        AttributeType.STRING: [
            ("in", "btree", "((attributes ->> {k}))"),
            ("prefix", "btree", "(lower(attributes ->> {k}) text_pattern_ops)"),
        ],
        AttributeType.LIST: [("contains", "gin", "((attributes -> {k}))")],
    }
    return [
        IndexSpec(_name(INDEX_PREFIX, key, kind, variant), method, sql.SQL(text).format(k=k))
        for variant, method, text in shapes.get(kind, [])
    ]


def stats_name(*, key: str, kind: str) -> str | None:
    return _name(STATS_PREFIX, key, kind, "typeof") if index_specs(key=key, kind=kind) else None


def _wanted() -> tuple[dict[str, IndexSpec], dict[str, str]]:
    indexes, stats = {}, {}
    for key, kind in AttributeDefinition.objects.filter(indexed=True).values_list("key", "type"):
        for spec in index_specs(key=key, kind=kind):
            indexes[spec.name] = spec
        name = stats_name(key=key, kind=kind)
        if name:
            stats[name] = key
    return indexes, stats


def _existing(cursor) -> tuple[dict[str, bool], set[str]]:
    """Our indexes on the profile table (name → valid) and our statistics objects."""
    cursor.execute(
        """
        SELECT c.relname, i.indisvalid
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = %s::regclass AND starts_with(c.relname, %s)
        """,
        [TABLE, INDEX_PREFIX],
    )
    indexes = dict(cursor.fetchall())
    cursor.execute(
        "SELECT stxname FROM pg_statistic_ext WHERE stxrelid = %s::regclass "
        "AND starts_with(stxname, %s)",
        [TABLE, STATS_PREFIX],
    )
    return indexes, {row[0] for row in cursor.fetchall()}


def attribute_indexes_sync() -> dict[str, list[str]]:
    """Make the indexes and statistics match the `indexed` flags; return what changed.

    Runs outside a transaction (CONCURRENTLY needs that). An index left INVALID by a build
    that failed or was cancelled is dropped and built again.
    """
    if connection.in_atomic_block:
        raise RuntimeError("attribute_indexes_sync cannot run inside a transaction.")
    created, dropped = [], []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_ID])
        try:
            wanted, wanted_stats = _wanted()
            existing, existing_stats = _existing(cursor)
            for name, valid in existing.items():
                if name not in wanted or not valid:
                    _run(cursor, sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                        sql.Identifier(name)))
                    dropped.append(name)
            for name in existing_stats - set(wanted_stats):
                _run(cursor, sql.SQL("DROP STATISTICS IF EXISTS {}").format(
                    sql.Identifier(name)))
                dropped.append(name)
            for name, spec in wanted.items():
                if existing.get(name):
                    continue
                _run(cursor, sql.SQL(
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING {method} "
                    "{expression}"
                ).format(name=sql.Identifier(name), table=sql.Identifier(TABLE),
                         method=sql.SQL(spec.method), expression=spec.expression))
                created.append(name)
            for name, key in wanted_stats.items():
                if name in existing_stats:
                    continue
                _run(cursor, sql.SQL(
                    "CREATE STATISTICS IF NOT EXISTS {name} ON "
                    "(jsonb_typeof(attributes -> {key})) FROM {table}"
                ).format(name=sql.Identifier(name), key=sql.Literal(key),
                         table=sql.Identifier(TABLE)))
                created.append(name)
            if created:
                # Expression statistics exist only once the table is analyzed (a sample).
                _run(cursor, sql.SQL("ANALYZE {}").format(sql.Identifier(TABLE)))
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_ID])
    return {"created": created, "dropped": dropped}


def _run(cursor, statement: sql.Composable) -> None:
    # Composed to text with psycopg's own quoting (Identifier, Literal), then run as is.
    cursor.execute(statement.as_string(cursor.connection))


def attribute_index_state(*, definition: AttributeDefinition) -> IndexState:
    """The definition's wanted index names and which of them exist and are valid."""
    names = tuple(spec.name for spec in index_specs(key=definition.key, kind=definition.type)) \
        if definition.indexed else ()
    with connection.cursor() as cursor:
        existing, _ = _existing(cursor)
    return IndexState(
        key=definition.key, wanted=names,
        built=tuple(n for n in names if existing.get(n)),
        invalid=tuple(n for n in names if existing.get(n) is False),
    )


def attribute_index_set(*, definitions, indexed: bool) -> int:
    """Mark attributes indexed (or not); the job builds or drops once this commits."""
    changed = AttributeDefinition.objects.filter(
        pk__in=[d.pk for d in definitions]
    ).exclude(indexed=indexed).update(indexed=indexed)
    attribute_indexes_request_sync()
    return changed


def attribute_indexes_request_sync() -> None:
    transaction.on_commit(enqueue_attribute_indexes_sync)


def enqueue_attribute_indexes_sync() -> None:
    django_rq.get_queue(QUEUE).enqueue(
        attribute_indexes_sync_job, job_timeout=JOB_TIMEOUT,
        description="attribute indexes: build and drop",
    )


def attribute_indexes_sync_job() -> dict[str, list[str]]:
    """RQ entry point (queue "default")."""
    return attribute_indexes_sync()

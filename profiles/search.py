"""The profile list and its search, fast at a million profiles.

- Keyset pagination by id (newest first): a page is `id < cursor ORDER BY id DESC LIMIT n`,
  never an OFFSET, so page 20,000 costs what page 1 costs.
- No exact COUNT(*) per page view: the unfiltered list shows PostgreSQL's own estimate
  (pg_class.reltuples); a filtered list counts up to COUNT_CAP matches and says "more" beyond.
- Every search mode has an index (migration 0004): email prefix on lower(email)
  text_pattern_ops, name substring on a pg_trgm GIN index over the full name, external_id
  exact on its unique index, attribute filters as `attributes @> {...}` on the jsonb_path_ops
  GIN index.

A filtered page is found in two steps because no single plan suits both kinds of filter.
A common value ("plan is pro") fills a page from the newest few thousand rows, walked
backwards on the primary key; a rare one (an email prefix) is found in its own index and the
few matches sorted. The planner often cannot tell them apart (its estimates for LIKE '%x%' and
jsonb containment are rough), so first the newest WINDOW rows are scanned, and only when they
hold less than a page is the rest searched through the filter's indexes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from profiles.attributes import AttributeSpec, coerce_value
from profiles.models import AttributeType, Profile, full_name_search_key

PAGE_SIZE = 50
COUNT_CAP = 10_000
# How many of the newest rows (below the cursor) the first step scans: the cost of a page of a
# common filter, and the density (PAGE_SIZE / WINDOW) under which the indexes take over.
WINDOW = 10_000
# Shorter words hold no trigram of their own: only at the start of a word can pg_trgm find them.
TRIGRAM_MIN = 3
_UNKNOWN = object()  # a window edge not looked up yet


class SearchMode:
    AUTO = "auto"
    EMAIL = "email"
    NAME = "name"
    EXTERNAL_ID = "external_id"

    choices = [
        (AUTO, "Anything"), (EMAIL, "Email starts with"), (NAME, "Name contains"),
        (EXTERNAL_ID, "External id is"),
    ]


class FilterValueError(ValueError):
    """An attribute filter value that cannot match its declared type."""


@dataclass(frozen=True)
class ProfileFilters:
    query: str = ""
    mode: str = SearchMode.AUTO
    # attribute key → the value to match (already typed, see attribute_filter_value)
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.query.strip() or self.attributes)


@dataclass(frozen=True)
class ProfilePage:
    profiles: list[Profile]
    # Ids to pass as `after` (older profiles) / `before` (newer ones); None at either end.
    next_cursor: int | None
    previous_cursor: int | None
    count: int
    count_is_estimate: bool  # "about N" (unfiltered estimate)
    count_is_capped: bool  # "more than COUNT_CAP"


def search_q(*, query: str, mode: str = SearchMode.AUTO) -> Q:
    """The condition a search box query stands for; every branch has an index."""
    text = query.strip()
    if not text:
        return Q()
    if mode == SearchMode.EMAIL:
        return _email_prefix(text)
    if mode == SearchMode.NAME:
        return _name_match(text)
    if mode == SearchMode.EXTERNAL_ID:
        return Q(external_id=text)
    if "@" in text:
        return _email_prefix(text)
    return Q(external_id=text) | _email_prefix(text) | _name_match(text)


def _email_prefix(text: str) -> Q:
    return Q(email_search__startswith=text.lower())


def _name_match(text: str) -> Q:
    """Every word somewhere in the full name; a word too short for a trigram (pg_trgm finds
    no trigram inside "lo") must start a word of the name, which the index can find."""
    condition = Q()
    for word in text.lower().split():
        if len(word) >= TRIGRAM_MIN:
            condition &= Q(name_search__contains=word)
        else:
            condition &= Q(name_search__startswith=word) | Q(name_search__contains=f" {word}")
    return condition


def attributes_q(attributes: Mapping[str, Any]) -> Q:
    """`attributes @> {...}`: one containment per alternative value, all on the GIN index."""
    condition = Q()
    for key, value in attributes.items():
        alternatives = value if isinstance(value, AnyOf) else AnyOf([value])
        either = Q()
        for alternative in alternatives:
            either |= Q(attributes__contains={key: alternative})
        condition &= either
    return condition


class AnyOf(list):
    """Values any of which may match (an undeclared attribute typed in as text)."""


def attribute_filter_value(raw: str, spec: AttributeSpec | None) -> Any:
    """The JSON value to look for, typed by the attribute's declaration.

    Stored values keep one shape per type (profiles.attributes), so a number is matched as a
    JSON number and a list by containment of one element. An undeclared attribute may hold
    anything: its text is tried as written and, when it reads as a number or true/false, as
    that too.
    """
    raw = raw.strip()
    if spec is None:
        alternatives = AnyOf([raw])
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, bool | int | float) and parsed != raw:
            alternatives.append(parsed)
        return alternatives
    try:
        if spec.type == AttributeType.LIST:
            return [coerce_value([raw], AttributeSpec(spec.key, spec.type))[0]]
        if spec.type == AttributeType.DATE:
            return date.fromisoformat(raw).isoformat()
        return coerce_value(raw, AttributeSpec(spec.key, spec.type))
    except ValueError as exc:
        raise FilterValueError(str(exc)) from None


def filtered_profiles(filters: ProfileFilters) -> QuerySet[Profile]:
    return (
        Profile.objects.alias(email_search=Lower("email"), name_search=full_name_search_key())
        .filter(search_q(query=filters.query, mode=filters.mode))
        .filter(attributes_q(filters.attributes))
    )


def profile_page(
    *, filters: ProfileFilters, after: int | None = None, before: int | None = None,
    size: int | None = None,
) -> ProfilePage:
    """One page of profiles, newest first, `after`/`before` a cursor from a previous page."""
    size = size or PAGE_SIZE
    backwards = before is not None and after is None
    rows, edge = _rows(filters, after=after, before=before if backwards else None, size=size + 1)
    if backwards and len(rows) <= size:
        # Walked back to the newest profiles: that is simply the first page.
        return profile_page(filters=filters, size=size)
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    newest, oldest = (rows[0].pk, rows[-1].pk) if rows else (None, None)
    first_page = after is None and not backwards
    count, estimate, capped = profile_count(
        filters=filters, newest_edge=edge if first_page else _UNKNOWN
    )
    return ProfilePage(
        profiles=rows,
        next_cursor=oldest if (more or backwards) and rows else None,
        previous_cursor=newest if (after is not None or (backwards and more)) and rows else None,
        count=count, count_is_estimate=estimate, count_is_capped=capped,
    )


def _rows(filters: ProfileFilters, *, after: int | None, before: int | None, size: int):
    """(rows, the window's edge id when there is a filter)."""
    newer_first = before is None
    order = "-id" if newer_first else "id"
    beyond = _beyond(after=after, before=before)
    if not filters.active:
        return list(Profile.objects.filter(beyond).order_by(order)[:size]), _UNKNOWN
    # Step 1: the WINDOW rows next to the cursor, walked on the primary key.
    edge = _window_edge(beyond, newer_first=newer_first)
    within = Q() if edge is None else Q(pk__gte=edge) if newer_first else Q(pk__lte=edge)
    matches = filtered_profiles(filters).filter(beyond).order_by(order)
    with _planner(enable_bitmapscan=False):
        rows = list(matches.filter(within)[:size])
    if len(rows) == size or edge is None:
        return rows, edge
    # Step 2: a sparse filter; its own indexes find the matches past the window, few to sort.
    past = Q(pk__lt=edge) if newer_first else Q(pk__gt=edge)
    with _planner(enable_seqscan=False, enable_indexscan=False):
        return rows + list(matches.filter(past)[: size - len(rows)]), edge


def _beyond(*, after: int | None, before: int | None) -> Q:
    if after is not None:
        return Q(pk__lt=after)
    if before is not None:
        return Q(pk__gt=before)
    return Q()


def profile_count(
    *, filters: ProfileFilters, newest_edge: object = _UNKNOWN
) -> tuple[int, bool, bool]:
    """(count, is_estimate, is_capped), without counting a million rows.

    Unfiltered: the planner's estimate of the table. Filtered: the matches among the newest
    WINDOW profiles, scaled to the table, when that says "more than COUNT_CAP" (a common value:
    counting it would visit COUNT_CAP rows scattered over the table); otherwise the exact count,
    from the filter's indexes, up to COUNT_CAP.
    """
    total = profile_table_estimate()
    if not filters.active:
        if total > COUNT_CAP:
            return total, True, False
        return Profile.objects.count(), False, False
    matches = filtered_profiles(filters).order_by()
    edge = _window_edge(Q(), newer_first=True) if newest_edge is _UNKNOWN else newest_edge
    if edge is not None:
        with _planner(enable_bitmapscan=False):
            sampled = matches.filter(pk__gte=edge).count()
        estimate = sampled * max(total, WINDOW) / WINDOW
        if estimate > COUNT_CAP:
            return _about(estimate), True, False
    with _planner(enable_seqscan=False, enable_indexscan=False):
        count = matches.values("pk")[: COUNT_CAP + 1].count()
    return min(count, COUNT_CAP), False, count > COUNT_CAP


def _about(estimate: float) -> int:
    """Two significant digits: 298,713 → 300,000. An estimate should not look exact."""
    digits = len(str(int(estimate))) - 2
    return int(round(estimate, -digits)) if digits > 0 else int(estimate)


def _window_edge(beyond: Q, *, newer_first: bool) -> int | None:
    """The id WINDOW rows away from the cursor (None when fewer rows are left)."""
    return (
        Profile.objects.filter(beyond).order_by("-id" if newer_first else "id")
        .values_list("pk", flat=True)[WINDOW - 1:WINDOW].first()
    )


def profile_table_estimate() -> int:
    """PostgreSQL's row estimate for the profile table, kept by (auto)vacuum and analyze."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [Profile._meta.db_table],
        )
        row = cursor.fetchone()
    # -1: never vacuumed nor analyzed (a new table), so no estimate yet.
    return max(int(row[0]), 0) if row else 0


@contextmanager
def _planner(**switches: bool):
    """Run the block's queries with some planner methods switched off.

    PostgreSQL has no query hints; its row estimates for LIKE '%x%' and jsonb containment are
    rough, and a misjudged sparse filter makes it walk the whole primary key backwards looking
    for LIMIT rows that are not there. SET LOCAL ends with this transaction (or savepoint, on an
    error); inside a caller's transaction it is set back explicitly, so nothing leaks to the
    request's other queries.
    """
    settings = [(name, "on" if value else "off") for name, value in sorted(switches.items())]
    inside_caller_transaction = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_set_locals(settings))
        yield
        if inside_caller_transaction:
            cursor.execute(_set_locals([(name, "default") for name, _ in settings]))


def _set_locals(settings: list[tuple[str, str]]) -> str:
    # Names and values come from this module, never from a request.
    return "; ".join(f"SET LOCAL {name} TO {value}" for name, value in settings)

"""A validated rule tree → one SQL boolean over the profile row, with bound parameters.

Every condition compiles to a strictly true/false expression (never NULL), so `not` and the
one-profile matcher (matcher.py) agree exactly. Column references are placeholders
(«id», «attributes», «email» …) that RuleExpression fills with the query's real aliases, so
the expression survives being used inside subqueries. User values only ever travel as
parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.conf import settings
from django.db.models import BooleanField, Expression, F

from profiles.rules import dates
from profiles.rules.schema import (
    BOOLEAN,
    DATE,
    DATETIME,
    LIST,
    NUMBER,
    PROFILE_FIELDS,
    STRING,
)

COLUMNS = ("id", "attributes", *PROFILE_FIELDS)
TRUE, FALSE = "TRUE", "FALSE"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}"
DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"


@dataclass
class Fragment:
    sql: str
    params: list = field(default_factory=list)


@dataclass
class CompileContext:
    now: datetime
    # segment id → its validated tree (segment references compile inline)
    segment_tree: Callable[[int], dict] = lambda _id: {"all": []}
    _stack: tuple = ()
    # Under an `any` or a `not`, where PostgreSQL cannot turn a subquery into a join.
    nested: bool = False


class CycleError(ValueError):
    pass


def compile_tree(tree: dict, context: CompileContext) -> Fragment:
    if "all" in tree:
        return _join([compile_tree(n, context) for n in tree["all"]], "AND", TRUE)
    if "any" in tree:
        nested = replace(context, nested=True)
        return _join([compile_tree(n, nested) for n in tree["any"]], "OR", FALSE)
    if "not" in tree:
        inner = compile_tree(tree["not"], replace(context, nested=True))
        return Fragment(f"(NOT {inner.sql})", inner.params)
    return _CONDITIONS[tree["type"]](tree, context) if tree["type"] in _CONDITIONS else (
        _registered(tree, context)
    )


def _join(parts: list[Fragment], op: str, empty: str) -> Fragment:
    if not parts:
        return Fragment(empty)
    params: list = []
    for part in parts:
        params += part.params
    return Fragment("(" + f" {op} ".join(p.sql for p in parts) + ")", params)


def _strict(sql: str, params: list) -> Fragment:
    """NULL (a missing value) reads as false."""
    return Fragment(f"COALESCE({sql}, FALSE)", params)


# --- profile fields ------------------------------------------------------------------------


def _field(node: dict, context: CompileContext) -> Fragment:
    column = f"«{node['field']}»"
    if PROFILE_FIELDS[node["field"]][1] == DATETIME:
        return _timestamp(column, node, context)
    text = Fragment(f"COALESCE({column}, '')")
    if node["field"] == "email" and node["op"] in ("equals", "not_equals", "in"):
        # Addresses compare without case (and lower(email) is indexed).
        text = Fragment(f"lower({text.sql})")
        node = {**node, "value": _lower(node["value"])}
    if node["op"] == "is_set":
        return Fragment(f"({text.sql} <> '')")
    if node["op"] == "not_set":
        return Fragment(f"({text.sql} = '')")
    return _text(text, node, guard=None)


def _lower(value):
    return [v.lower() for v in value] if isinstance(value, list) else value.lower()


def _text(text: Fragment, node: dict, guard: Fragment | None) -> Fragment:
    """String comparisons: equals and in are exact, contains and starts with ignore case."""
    op, value = node["op"], node.get("value")
    if op == "not_equals":
        inner = _text(text, {**node, "op": "equals"}, guard)
        return Fragment(f"(NOT {inner.sql})", inner.params)
    sql = {
        "equals": f"{text.sql} = %s",
        "contains": f"strpos(lower({text.sql}), lower(%s)) > 0",
        "starts_with": f"starts_with(lower({text.sql}), lower(%s))",
        "in": f"{text.sql} = ANY(%s::text[])",
    }[op]
    condition = Fragment(sql, [*text.params, value])
    if guard is not None:
        # The guard makes it strict (see _present): no COALESCE, so indexes stay usable.
        return Fragment(f"({guard.sql} AND {condition.sql})", guard.params + condition.params)
    return _strict(condition.sql, condition.params)


def _timestamp(column: str, node: dict, context: CompileContext) -> Fragment:
    op, value = node["op"], node.get("value")
    if op == "is_set":
        return Fragment(f"({column} IS NOT NULL)")
    if op == "not_set":
        return Fragment(f"({column} IS NULL)")
    low, high = dates.datetime_bounds(op, value, context.now)
    parts, params = [], []
    if low is not None:
        parts.append(f"{column} >= %s")
        params.append(low)
    if high is not None:
        parts.append(f"{column} < %s")
        params.append(high)
    return _strict("(" + " AND ".join(parts) + ")", params)


# --- attributes ----------------------------------------------------------------------------


def _attribute(node: dict, context: CompileContext) -> Fragment:
    key, value_type, op = node["key"], node["value_type"], node["op"]
    jtype = "jsonb_typeof(«attributes» -> %s)"
    if op == "is_set":
        return _strict(f"({jtype} <> 'null')", [key])
    if op == "not_set":
        return Fragment(f"(NOT COALESCE({jtype} <> 'null', FALSE))", [key])
    if op == "not_equals":
        inner = _attribute({**node, "op": "equals"}, context)
        return Fragment(f"(NOT {inner.sql})", inner.params)
    if op == "equals" and value_type in (STRING, NUMBER, BOOLEAN):
        # jsonb containment: exact type and value, and it uses the GIN index on attributes.
        return Fragment("(«attributes» @> %s::jsonb)", [json.dumps({key: node["value"]})])
    return _ATTRIBUTE_TYPES[value_type](key, node, context)


def _present(key: str, kind: str) -> tuple[str, list]:
    """«attributes» holds `key` with a JSON value of this kind: TRUE or FALSE, never NULL.

    Range conditions AND onto it without a COALESCE around them: a COALESCE hides the
    conjuncts from the planner, and with it every expression index on the attribute
    (profiles.attribute_indexes builds those to match the expressions below).
    """
    return (
        f"(«attributes» -> %s) IS NOT NULL AND jsonb_typeof(«attributes» -> %s) = '{kind}'",
        [key, key],
    )


def _attribute_string(key: str, node: dict, context: CompileContext) -> Fragment:
    guard, params = _present(key, "string")
    return _text(Fragment("(«attributes» ->> %s)", [key]), node, Fragment(guard, params))


def _attribute_number(key: str, node: dict, context: CompileContext) -> Fragment:
    # CASE, not a bare cast: the planner may test conjuncts in any order, and a cast of a
    # string value would fail the whole query. The same CASE is what the index holds.
    number = ("(CASE WHEN jsonb_typeof(«attributes» -> %s) = 'number' "
              "THEN («attributes» ->> %s)::float8 END)")
    guard, params = _present(key, "number")
    op, value = node["op"], node["value"]
    if op == "between":
        return Fragment(f"({guard} AND {number} BETWEEN %s AND %s)",
                        [*params, key, key, float(value[0]), float(value[1])])
    sign = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
    return Fragment(f"({guard} AND {number} {sign} %s)", [*params, key, key, float(value)])


def _attribute_date(key: str, node: dict, context: CompileContext) -> Fragment:
    text = "left(«attributes» ->> %s, 10)"
    present, params = _present(key, "string")
    head, head_params = f"({present} AND («attributes» ->> %s) ~ %s)", [*params, key, DATE_PATTERN]
    op, value = node["op"], node["value"]
    if op == "anniversary_in_days":
        days = dates.month_days_ahead(context.now.date(), value)
        return Fragment(f"({head} AND substr({text}, 6, 5) = ANY(%s::text[]))",
                        [*head_params, key, days])
    low, high = dates.date_text_bounds(op, value, context.now)
    return _bounded_text(head, head_params, text, key, low, high)


def _attribute_datetime(key: str, node: dict, context: CompileContext) -> Fragment:
    text = "left(«attributes» ->> %s, 19)"
    present, params = _present(key, "string")
    guard = f"({present} AND («attributes» ->> %s) ~ %s)"
    low, high = dates.datetime_text_bounds(node["op"], node["value"], context.now)
    return _bounded_text(guard, [*params, key, DATETIME_PATTERN], text, key, low, high)


def _bounded_text(guard, guard_params, text, key, low, high) -> Fragment:
    """low ≤ text < high on ISO text, which sorts like the dates it holds."""
    parts, params = [guard], list(guard_params)
    if low is not None:
        parts.append(f"{text} >= %s")
        params += [key, low]
    if high is not None:
        parts.append(f"{text} < %s")
        params += [key, high]
    return Fragment("(" + " AND ".join(parts) + ")", params)


def _attribute_list(key: str, node: dict, context: CompileContext) -> Fragment:
    operator = "?|" if node["op"] == "contains_any" else "?&"
    guard, params = _present(key, "array")
    return Fragment(f"({guard} AND («attributes» -> %s) {operator} %s::text[])",
                    [*params, key, node["value"]])


_ATTRIBUTE_TYPES = {
    STRING: _attribute_string,
    NUMBER: _attribute_number,
    DATE: _attribute_date,
    DATETIME: _attribute_datetime,
    LIST: _attribute_list,
}


# --- events --------------------------------------------------------------------------------


def _event(node: dict, context: CompileContext) -> Fragment:
    where, params = event_filter_sql(node, context.now, alias="ev")
    base = f"FROM profiles_event ev WHERE ev.profile_id = «id» AND {where}"
    op, count = node["op"], node["count"]
    if context.nested and not (op == "at_least" and count == 0):
        return _event_nested(op, count, where, params)
    if op == "none" or (op == "exactly" and count == 0):
        return Fragment(f"(NOT EXISTS (SELECT 1 {base}))", params)
    if op == "at_least" and count == 0:
        return Fragment(TRUE)
    if op == "at_least" and count == 1:
        return Fragment(f"(EXISTS (SELECT 1 {base}))", params)
    # Counts: aggregate the matching events once (a hash of profile ids) and join to it,
    # rather than counting again for every profile.
    if op == "at_most":
        return Fragment(f"(NOT {_counted(where, '>')})", [*params, count])
    return Fragment(_counted(where, ">=" if op == "at_least" else "="), [*params, count])


def _counted(where: str, sign: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM (SELECT ev.profile_id FROM profiles_event ev "  # noqa: S608
        f"WHERE {where} GROUP BY ev.profile_id HAVING count(*) {sign} %s) counted "
        "WHERE counted.profile_id = «id»)"
    )


def _event_nested(op: str, count: int, where: str, params: list) -> Fragment:
    """An event condition under any/not: the set of profiles that qualify, built once.

    There a correlated EXISTS stays a subplan, and PostgreSQL (15) sizes its per-profile form
    by the filter's *output* rows, so it probes the events of every profile (~6 s over
    1,000,000 profiles). The set of qualifying profile ids is computed once and hashed instead.
    unnest(ARRAY(…)) keeps it hashed whatever size the planner guesses: a plain IN whose
    estimate passes work_mem falls back to rescanning the whole set for every profile.
    """
    def profile_set(having: str) -> str:
        return ("«id» IN (SELECT unnest(ARRAY(SELECT ev.profile_id "  # noqa: S608
                f"FROM profiles_event ev WHERE {where} GROUP BY ev.profile_id{having})))")

    if op == "none" or (op == "exactly" and count == 0):
        return Fragment(f"(NOT {profile_set('')})", params)
    if op == "at_least" and count == 1:
        return Fragment(f"({profile_set('')})", params)
    if op == "at_most":
        return Fragment(f"(NOT {profile_set(' HAVING count(*) > %s')})", [*params, count])
    sign = ">=" if op == "at_least" else "="
    return Fragment(f"({profile_set(f' HAVING count(*) {sign} %s')})", [*params, count])


def event_filter_sql(node: dict, now: datetime, alias: str) -> tuple[str, list]:
    parts, params = [f"{alias}.name = %s"], [node["name"]]
    low, high = dates.event_window(node, now)
    if low is not None:
        parts.append(f"{alias}.occurred_at >= %s")
        params.append(low)
    if high is not None:
        parts.append(f"{alias}.occurred_at < %s")
        params.append(high)
    for item in node.get("where", []):
        sql, item_params = _property(item, f"{alias}.properties")
        parts.append(sql)
        params += item_params
    return " AND ".join(parts), params


def _property(item: dict, column: str) -> tuple[str, list]:
    key, op, value = item["property"], item["op"], item["value"]
    if op in ("equals", "not_equals"):
        sql = f"({column} @> %s::jsonb)"
        return (sql if op == "equals" else f"(NOT {sql})"), [json.dumps({key: value})]
    if op == "contains":
        return (f"COALESCE(jsonb_typeof({column} -> %s) = 'string' "
                f"AND strpos(lower({column} ->> %s), lower(%s)) > 0, FALSE)", [key, key, value])
    sign = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
    return (f"COALESCE(jsonb_typeof({column} -> %s) = 'number' "
            f"AND ({column} ->> %s)::float8 {sign} %s, FALSE)", [key, key, float(value)])


# --- consent -------------------------------------------------------------------------------


def _consent(node: dict, context: CompileContext) -> Fragment:
    channel, topic = node["channel"], node.get("topic")
    regime_open = settings.CONSENT_REGIMES.get(channel, "opt_in") == "opt_out"

    def state(value: str, topic_key: str | None) -> Fragment:
        scope = ("c.topic_id = (SELECT t.id FROM profiles_topic t WHERE t.key = %s)"
                 if topic_key else "c.topic_id IS NULL")
        params = [channel, *([topic_key] if topic_key else []), value]
        return Fragment(
            "EXISTS (SELECT 1 FROM profiles_consent c WHERE c.profile_id = «id» "  # noqa: S608
            f"AND c.channel = %s AND {scope} AND c.state = %s)", params)

    channel_out, channel_in = state("opted_out", None), state("opted_in", None)
    default = Fragment(f"({channel_in.sql} OR {TRUE if regime_open else FALSE})", channel_in.params)
    if topic:
        topic_in, topic_out = state("opted_in", topic), state("opted_out", topic)
        default = Fragment(
            f"({topic_in.sql} OR (NOT {topic_out.sql} AND {default.sql}))",
            topic_in.params + topic_out.params + default.params,
        )
    allowed = Fragment(
        f"(NOT {channel_out.sql} AND {default.sql})", channel_out.params + default.params
    )
    if node["op"] == "subscribed":
        return allowed
    return Fragment(f"(NOT {allowed.sql})", allowed.params)


# --- segments and registered types -------------------------------------------------------


def _segment(node: dict, context: CompileContext) -> Fragment:
    segment_id = node["segment"]
    if segment_id in context._stack:
        raise CycleError(f"Segment {segment_id} refers to itself through other segments.")
    inner_context = CompileContext(context.now, context.segment_tree, (*context._stack, segment_id),
                                   nested=context.nested or node["op"] == "not_in")
    inner = compile_tree(context.segment_tree(segment_id), inner_context)
    return inner if node["op"] == "in" else Fragment(f"(NOT {inner.sql})", inner.params)


def _list(node: dict, context: CompileContext) -> Fragment:
    """Membership of a static list (what a static segment's tree resolves to)."""
    return Fragment(
        "EXISTS (SELECT 1 FROM profiles_segmentmember m "
        "WHERE m.segment_id = %s AND m.profile_id = «id»)", [node["segment"]]
    )


def _registered(node: dict, context: CompileContext) -> Fragment:
    from profiles.rules.registry import condition_types

    sql, params = condition_types()[node["type"]].sql(node, context.now)
    return Fragment(f"({sql})", list(params))


_CONDITIONS = {
    "field": _field,
    "attribute": _attribute,
    "event": _event,
    "consent": _consent,
    "segment": _segment,
    "list": _list,
}


class RuleExpression(Expression):
    """A compiled tree as a boolean Django expression: `Profile.objects.filter(expr)`."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, fragment: Fragment):
        super().__init__(output_field=BooleanField())
        self.fragment = fragment
        self.names = [c for c in COLUMNS if f"«{c}»" in fragment.sql]
        self.columns = [F(name) for name in self.names]

    def get_source_expressions(self):
        return self.columns

    def set_source_expressions(self, exprs):
        self.columns = list(exprs)

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False,
                           for_save=False):
        clone = self.copy()
        clone.columns = [
            c.resolve_expression(query, allow_joins, reuse, summarize, for_save)
            for c in self.columns
        ]
        return clone

    def as_sql(self, compiler, connection):
        sql = self.fragment.sql
        for name, column in zip(self.names, self.columns, strict=True):
            column_sql, _ = compiler.compile(column)
            sql = sql.replace(f"«{name}»", column_sql)
        return sql, list(self.fragment.params)

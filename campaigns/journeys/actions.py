"""Executing a batch of engine decisions, set-based, inside the walk's transaction:

- step visits: one INSERT … ON CONFLICT (enrollment, step): a step left fills the open
  visit of the step the enrollment waited at (or records it closed); a step the enrollment
  stops at gets an open visit (outcome ""), so "waiting here" and "passed" are both rows;
- deliveries: one INSERT … SELECT per batch (channels.services.deliveries_create_for_
  enrollments), unique per (enrollment, step), queued (or skipped without an address);
- attribute updates: one UPDATE per (attribute, value) group;
- the enrollments' new state: one UPDATE … FROM unnest.
A retried batch (after a crash before COMMIT nothing of it exists) changes nothing twice.

The unnest arrays go as binary parameters bound on the server (%b, as profiles.ingestion
does): Django's client-side cursor quoted every element in Python, 13 % of a batch.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from campaigns.engine import (
    Complete,
    Convert,
    Decision,
    Exit,
    Fail,
    Send,
    UpdateAttribute,
    Visit,
    WaitUntil,
)
from campaigns.models import EnrollmentState, Step
from channels.models import Channel, MessageKind
from channels.rendering import template_revision_current
from channels.services import EnrollmentSend, deliveries_create_for_enrollments

if TYPE_CHECKING:
    from campaigns.journeys.walk import Claimed as Enrollment


@dataclass
class _Batch:
    steps: dict[tuple[int, str], Step]
    now: datetime
    visits: list[tuple] = field(default_factory=list)
    sends: list[EnrollmentSend] = field(default_factory=list)
    attributes: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    moves: list[tuple] = field(default_factory=list)
    revisions: dict[int, int] = field(default_factory=dict)

    def step(self, enrollment: Enrollment, key: str) -> Step | None:
        return self.steps.get((enrollment.version_id, key))


def apply(batch: list[Enrollment], decisions: dict[int, Decision],
          now: datetime) -> dict[int, list[int]]:
    """Write every decision; returns the new queued deliveries, by campaign step id."""
    steps = {(s.version_id, s.key): s for s in Step.objects.filter(
        version_id__in={e.version_id for e in batch}).select_related("template")}
    work = _Batch(steps=steps, now=now)
    for enrollment in batch:
        _collect(work, enrollment, decisions[enrollment.id])
    _insert_visits(work.visits)
    created = deliveries_create_for_enrollments(sends=work.sends, now=now)
    _update_attributes(work.attributes, now)
    _move(work.moves, now)
    queued: dict[int, list[int]] = defaultdict(list)
    for delivery_id, step_id, status in created:
        if status == "queued":
            queued[step_id].append(delivery_id)
    return dict(queued)


def _collect(work: _Batch, enrollment: Enrollment, decision: Decision) -> None:
    entered = enrollment.step_entered_at or enrollment.entered_at
    visited: set[str] = set()
    converted = None
    for action in decision.actions:
        if isinstance(action, Visit):
            _visit(work, enrollment, action.step_key, entered, work.now, action.outcome,
                   action.detail)
            visited.add(action.step_key)
            entered = work.now
        elif isinstance(action, Send):
            _send(work, enrollment, action.step_key)
        elif isinstance(action, UpdateAttribute):
            value = json.dumps(action.value, cls=DjangoJSONEncoder, sort_keys=True)
            work.attributes[(action.attribute, value)].append(enrollment.profile_id)
        elif isinstance(action, Convert):
            converted = action.at
    final = decision.actions[-1] if decision.actions else Fail(decision.step_key, "No decision.")
    if final.step_key not in visited:
        # Where the walk stops: an open visit (waiting), or the closed visit of the step
        # it ended at when the engine recorded none (exit criteria, failure).
        outcome, detail, left = _stop_visit(final)
        _visit(work, enrollment, final.step_key, entered, left, outcome, detail)
    work.moves.append(_state(enrollment, decision, final, converted, work.now))


_NOW = object()  # placeholder: "left now" (resolved in _visit)


def _stop_visit(final: Any) -> tuple[str, str, datetime | None]:
    if isinstance(final, WaitUntil):
        return "", "", None
    if isinstance(final, Exit):
        return "exited", final.reason, _NOW
    if isinstance(final, Fail):
        return "failed", final.reason, _NOW
    return "end", "", _NOW


def _visit(work: _Batch, enrollment: Enrollment, key: str, entered: datetime, left: Any,
           outcome: str, detail: str) -> None:
    step = work.step(enrollment, key)
    if step is None:
        return  # a step no longer in the version (the failure is on the enrollment)
    work.visits.append((enrollment.id, step.pk, enrollment.campaign_id, entered,
                        work.now if left is _NOW else left, outcome[:32], detail[:300]))


def _send(work: _Batch, enrollment: Enrollment, key: str) -> None:
    step = work.step(enrollment, key)
    if step is None:
        return
    template = step.template
    if template is None:  # an inline email (send_email) step
        channel, kind, revision, fixed = step.channel, MessageKind.MARKETING, None, ""
    else:
        if template.pk not in work.revisions:
            # The revision current when the message is created: a later template edit does
            # not change what an already-decided message says.
            work.revisions[template.pk] = template_revision_current(template=template).pk
        channel, kind, revision = template.channel, template.kind, work.revisions[template.pk]
        fixed = str((template.content or {}).get("url", "")) if channel == Channel.WEBHOOK else ""
    work.sends.append(EnrollmentSend(
        enrollment_id=enrollment.id, step_id=step.pk, profile_id=enrollment.profile_id,
        channel=channel, kind=kind, template_revision_id=revision, fixed_address=fixed,
    ))


def _state(enrollment: Enrollment, decision: Decision, final: Any, converted: datetime | None,
           now: datetime) -> tuple:
    moved = decision.step_key != enrollment.step_key
    step_entered = now if moved else (enrollment.step_entered_at or enrollment.entered_at)
    state, due, wait_event, data, finished, reason = EnrollmentState.ACTIVE, None, "", {}, None, ""
    if isinstance(final, WaitUntil):
        due, wait_event, data = final.at, final.event or "", dict(final.data or {})
    elif isinstance(final, Complete):
        state, finished = EnrollmentState.COMPLETED, now
    elif isinstance(final, Exit):
        state, finished, reason = EnrollmentState.EXITED, now, final.reason
    else:
        state, finished = EnrollmentState.FAILED, now
        reason = getattr(final, "reason", "") or "failed"
    return (enrollment.id, state, decision.step_key, due, wait_event,
            json.dumps(data, cls=DjangoJSONEncoder), step_entered, finished, reason[:64],
            converted)


def _insert_visits(rows: list[tuple]) -> None:
    if not rows:
        return
    with binary_cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_stepvisit
                   (enrollment_id, step_id, campaign_id, entered_at, left_at, outcome, detail)
            SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::timestamptz[],
                                 %b::timestamptz[], %b::text[], %b::text[])
            ON CONFLICT (enrollment_id, step_id) DO UPDATE
               SET left_at = EXCLUDED.left_at, outcome = EXCLUDED.outcome,
                   detail = EXCLUDED.detail
             WHERE campaigns_stepvisit.outcome = '' AND EXCLUDED.outcome <> ''
            """,
            [list(column) for column in zip(*rows, strict=True)],
        )


def _update_attributes(groups: dict[tuple[str, str], list[int]], now: datetime) -> None:
    if not groups:
        return
    with binary_cursor() as cursor:
        for (attribute, value), profile_ids in groups.items():
            cursor.execute(
                """
                UPDATE profiles_profile
                   SET attributes = jsonb_set(coalesce(attributes, '{}'::jsonb), %b::text[],
                                              %b::text::jsonb, true),
                       updated_at = %b
                 WHERE id = ANY(%b::bigint[])
                """,
                [[attribute], value, now, sorted(set(profile_ids))],
            )


def _move(rows: list[tuple], now: datetime) -> None:
    if not rows:
        return
    with binary_cursor() as cursor:
        cursor.execute(
            """
            UPDATE campaigns_enrollment AS e
               SET state = u.state, step_key = u.step_key, next_due_at = u.next_due_at,
                   wait_event = u.wait_event, data = u.data::jsonb,
                   step_entered_at = u.step_entered_at, finished_at = u.finished_at,
                   exit_reason = u.exit_reason,
                   converted_at = coalesce(e.converted_at, u.converted_at),
                   claimed_at = %b, updated_at = %b
              FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::timestamptz[], %b::text[],
                          %b::text[], %b::timestamptz[], %b::timestamptz[], %b::text[],
                          %b::timestamptz[])
                   AS u(id, state, step_key, next_due_at, wait_event, data, step_entered_at,
                        finished_at, exit_reason, converted_at)
             WHERE e.id = u.id
            """,
            [now, now, *[list(column) for column in zip(*rows, strict=True)]],
        )


@contextmanager
def binary_cursor() -> Iterator[Any]:
    """psycopg's own cursor on Django's connection (same transaction), its parameters bound
    on the server; errors still surface as Django's (IntegrityError…)."""
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor

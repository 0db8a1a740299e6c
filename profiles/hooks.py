"""How other apps take part in a profile's life without `profiles` importing them.

Apps register in their AppConfig.ready():

- event subscribers: dotted paths of functions taking a list of event ids, called by a
  worker (queue "events") with the ids of newly ingested, committed events. Calls are
  coalesced (profiles.ingestion.fanout): one call gets up to 500 ids of many ingestion
  requests, oldest first, and several calls may run at once on different workers. An id is
  handed over once, unless the call raises (the batch is then retried as an RQ job), so a
  subscriber must tolerate seeing an event again.
  Ingestion never waits on them: this is how campaigns (issue #6) starts real-time journeys.
- merge handlers: `handler(*, survivor_id, merged_id) -> int` moves the app's rows from the
  merged profile to the survivor (inside the merge transaction); returns rows moved.
- erase handlers: `handler(*, profile_id) -> int` removes or anonymizes the app's personal
  data about a profile (GDPR erasure, inside its transaction); returns rows touched.
- export contributors: `contributor(*, profile_id) -> dict` adds the app's data about a
  profile to a GDPR export, under the handler's registered name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

_event_subscribers: list[str] = []
_merge_handlers: dict[str, Callable[..., int]] = {}
_erase_handlers: dict[str, Callable[..., int]] = {}
_export_contributors: dict[str, Callable[..., dict]] = {}


def subscribe_to_events(job_path: str) -> None:
    if job_path not in _event_subscribers:
        _event_subscribers.append(job_path)


def event_subscribers() -> list[str]:
    return list(_event_subscribers)


def register_merge_handler(name: str, handler: Callable[..., int]) -> None:
    _merge_handlers[name] = handler


def merge_handlers() -> Iterable[tuple[str, Callable[..., int]]]:
    return list(_merge_handlers.items())


def register_erase_handler(name: str, handler: Callable[..., int]) -> None:
    _erase_handlers[name] = handler


def erase_handlers() -> Iterable[tuple[str, Callable[..., int]]]:
    return list(_erase_handlers.items())


def register_export_contributor(name: str, contributor: Callable[..., dict]) -> None:
    _export_contributors[name] = contributor


def export_contributors() -> Iterable[tuple[str, Callable[..., dict]]]:
    return list(_export_contributors.items())

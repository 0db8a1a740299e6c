"""Batches mixing track and identify items: bad items never block the good ones."""

from __future__ import annotations

import logging
from typing import Any

from profiles.ingestion.parsing import (
    ItemError,
    ItemResult,
    TimeWindow,
    TrackItem,
    parse_identify,
    parse_track,
)
from profiles.ingestion.tracking import events_track

log = logging.getLogger(__name__)

# --- batches: tracks and identifies -------------------------------------------------------


def batch_ingest(*, items: list[Any], default_source: str, actor_token=None) -> list[ItemResult]:
    """Ingest a batch: bad items are reported and never block the good ones.

    Identify items run first, one transaction each (they may merge profiles), so that the
    batch's events land on the merged profile; then every valid track item in one set-based
    transaction.
    """
    from profiles.identity import IdentifyError, profile_identify

    window = TimeWindow.at()
    results: list[ItemResult | None] = [None] * len(items)
    tracks: list[TrackItem] = []
    for index, raw in enumerate(items):
        kind = raw.get("type") if isinstance(raw, dict) else None
        try:
            if kind == "track":
                tracks.append(parse_track(raw, index=index, default_source=default_source,
                                          window=window))
            elif kind == "identify":
                request = parse_identify(raw, default_source=default_source)
                outcome = profile_identify(**request, actor_token=actor_token)
                results[index] = ItemResult(
                    index, "created" if outcome.created else "updated",
                    extra={"profile_id": outcome.profile.pk, "merged": outcome.merge is not None},
                )
            else:
                raise ItemError({"type": 'Must be "track" or "identify".'})
        except (ItemError, IdentifyError) as exc:
            results[index] = ItemResult(index, "error", errors=exc.errors)
    for result in events_track(items=tracks, now=window.now):
        results[result.index] = result
    return results

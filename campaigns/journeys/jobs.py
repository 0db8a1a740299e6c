"""RQ jobs of the journey runtime: thin, ids in, services called. Rows hold the truth, so a
lost job only delays work the sweep (campaigns.jobs.sweep) finds again."""

from __future__ import annotations

from campaigns.journeys import entry, walk
from campaigns.journeys.completion import complete_finished
from campaigns.journeys.sending import queued_step_ids, send_queued


def on_events(event_ids: list[int]) -> dict[str, int]:
    """profiles.hooks subscriber (queue "events"): new events into the journeys."""
    return entry.enter_on_events(event_ids)


# Enrollments per walk transaction. Their messages are still claimed and sent
# SEND_BATCH_SIZE at a time, so a dead worker leaves at most one send batch in flight.
WALK_BATCH = 1000


def walk_campaign(campaign_id: int) -> int:
    """Walk the campaign's due enrollments until none is due, send what its steps still
    have queued, and complete it if that was the end."""
    walked = 0
    while count := walk.process_due(limit=WALK_BATCH, campaign_id=campaign_id):
        walked += count
    for step_id in queued_step_ids(campaign_id=campaign_id):
        send_queued(step_id=step_id)
    complete_finished(campaign_id=campaign_id)
    return walked

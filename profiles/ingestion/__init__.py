"""Real-time ingestion: events (one or a batch) and identify calls from integrators.

parsing.py reads items; tracking.py writes track items set-based (one statement whatever
their number, receipts and events together, so a resent event is a duplicate) and hands new
events to subscribers after commit; profile_keys.py finds or creates profiles by key;
batches.py mixes identify and track items; reads.py reads a profile's events back.
"""

from profiles.ingestion.batches import batch_ingest
from profiles.ingestion.parsing import ItemError, ItemResult, TrackItem, parse_identify
from profiles.ingestion.profile_keys import lock_emails, raw_cursor
from profiles.ingestion.reads import profile_events
from profiles.ingestion.tracking import event_track, events_track

__all__ = ["ItemError", "ItemResult", "TrackItem", "batch_ingest", "event_track",
           "events_track", "lock_emails", "parse_identify", "profile_events", "raw_cursor"]

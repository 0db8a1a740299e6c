"""Periodic work for `manage.py rqcron config.cron`: the sweep that makes Redis disposable."""

from rq import cron

from campaigns.jobs import sweep
from channels.jobs import purge_expired_deliveries
from profiles.import_jobs import sweep_imports
from profiles.ingestion.fanout import drain_all
from profiles.jobs import maintain_event_partitions
from profiles.segment_jobs import snapshot_segment_counts

# Every 30 s: start or resume due audience runs, walk due journey enrollments (waits over,
# jobs lost with Redis), nudge stranded sends, close the deliveries of dead workers, enter
# segment-entry journeys, complete finished campaigns.
cron.register(sweep, queue_name="sweep", interval=30, job_timeout=600)
# Daily at 03:15 UTC: create the coming months' event partitions, drop those past retention.
cron.register(maintain_event_partitions, queue_name="sweep", cron="15 3 * * *", job_timeout=3600)
# Daily at 02:30 UTC: every segment's count, kept per day for its count history.
cron.register(snapshot_segment_counts, queue_name="sweep", cron="30 2 * * *", job_timeout=3600)
# Every 30 s: hand event subscribers (real-time journeys) the ids a killed drain left waiting
# in Redis with no drain job to come. If Redis itself is lost, the ids waiting there are lost:
# those events' real-time entries (waits woken, goals, exits) are not walked; the events
# themselves are in PostgreSQL.
cron.register(drain_all, queue_name="sweep", interval=30, job_timeout=600)
# Every 60 s: re-queue imports whose job Redis lost, fail those whose worker died.
cron.register(sweep_imports, queue_name="sweep", interval=60, job_timeout=300)
# Daily at 03:45 UTC: delete deliveries (and their status logs) past DELIVERY_RETENTION_DAYS.
cron.register(purge_expired_deliveries, queue_name="sweep", cron="45 3 * * *", job_timeout=3600)

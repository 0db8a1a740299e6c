"""Periodic work for `manage.py rqcron config.cron`: the sweep that makes Redis disposable."""

from rq import cron

from campaigns.jobs import sweep

# Every 30 s: launch due campaigns whose job was lost, nudge stranded sends, close the
# deliveries of dead workers, complete finished campaigns.
cron.register(sweep, queue_name="sweep", interval=30, job_timeout=600)

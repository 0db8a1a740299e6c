"""Journeys built straight from rows (a published version and its steps), so the runtime
is tested on its own, whatever the designer and the lifecycle do to get there."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, CampaignVersion, Step
from profiles.models import Segment
from profiles.services import segment_save

HTML = "<p>Hello {{ profile.first_name }}</p>"


def send(key: str, following: str | None = None, **fields) -> dict:
    return {"key": key, "kind": "send_email", "exits": {"next": following},
            "subject": f"{key} for {{{{ profile.first_name }}}}", "html_body": HTML, **fields}


def wait(key: str, following: str | None, seconds: int) -> dict:
    return {"key": key, "kind": "wait", "config": {"mode": "duration", "seconds": seconds},
            "exits": {"next": following}}


def journey(steps: list[dict], *, status: str = CampaignStatus.RUNNING,
            segment: Segment | None = None, **campaign_fields) -> Campaign:
    """A campaign with version 1 published and current, its steps in the given order."""
    campaign = Campaign.objects.create(name="Journey", status=status, segment=segment,
                                       **campaign_fields)
    version = CampaignVersion.objects.create(campaign=campaign, number=1,
                                             start_key=steps[0]["key"],
                                             published_at=timezone.now())
    for position, spec in enumerate(steps, start=1):
        Step.objects.create(campaign=campaign, version=version, position=position, **spec)
    campaign.current_version = version
    campaign.save(update_fields=["current_version"])
    return campaign


def pro_segment(name: str = "Pro") -> Segment:
    return segment_save(
        name=name, rules={"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]}
    )


def profiles(count: int, *, prefix: str = "p", plan: str = "pro") -> None:
    """`count` profiles in one INSERT … SELECT (factories would take minutes at 10,000)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO profiles_profile (external_id, email, phone, first_name, last_name,
                   timezone, locale, attributes, created_at, updated_at)
            SELECT %s || g, %s || g || '@example.com', '', 'Ann' || g, '', 'UTC', 'en',
                   jsonb_build_object('plan', %s::text), now(), now()
              FROM generate_series(1, %s) AS g
            """,
            [f"{prefix}-", prefix, plan, count],
        )

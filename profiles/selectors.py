"""Reads of profiles and segments."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from profiles.models import Profile, Segment
from profiles.segments import compile_rules


def profile_search(*, query: str = "") -> QuerySet[Profile]:
    profiles = Profile.objects.all()
    query = query.strip()
    if query:
        profiles = profiles.filter(
            Q(email__icontains=query)
            | Q(external_id__iexact=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
        )
    return profiles


def segment_members(*, segment: Segment) -> QuerySet[Profile]:
    """The segment's current members as one SQL query (never loaded into Python)."""
    return Profile.objects.filter(compile_rules(segment.rules))


def segment_count(*, segment: Segment) -> int:
    return segment_members(segment=segment).count()


def attribute_keys(*, sample_size: int = 1000) -> list[str]:
    """Attribute keys seen on recent profiles, for the segment form's suggestions."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT jsonb_object_keys(attributes)
              FROM (SELECT attributes FROM profiles_profile ORDER BY id DESC LIMIT %s) AS recent
             ORDER BY 1
            """,
            [sample_size],
        )
        return [row[0] for row in cursor.fetchall()]

"""Segment page actions beside the static lists' own (profiles.lists): duplicating."""

from __future__ import annotations

from django.db import connection, transaction

from profiles.models import Segment

NAME_MAX = Segment._meta.get_field("name").max_length


def segment_duplicate(*, segment: Segment, user=None) -> Segment:
    """A copy named "… (copy)" (then "(copy 2)", …); a static list keeps its members."""
    with transaction.atomic():
        copy = Segment.objects.create(
            name=_free_name(segment.name), description=segment.description, kind=segment.kind,
            rules=segment.rules, created_by=user,
        )
        if segment.is_static:
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO profiles_segmentmember (segment_id, profile_id, source, added_at) "
                    "SELECT %s, profile_id, source, now() FROM profiles_segmentmember "
                    "WHERE segment_id = %s",
                    [copy.pk, segment.pk],
                )
    return copy


def _free_name(name: str) -> str:
    taken = set(Segment.objects.filter(name__startswith=name[:150]).values_list("name", flat=True))
    for n in range(1, 1000):
        suffix = " (copy)" if n == 1 else f" (copy {n})"
        candidate = name[: NAME_MAX - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise ValueError("Too many copies of this segment.")

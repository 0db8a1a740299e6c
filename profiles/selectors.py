"""Reads of profiles and segments."""

from __future__ import annotations

from django.db.models import QuerySet

from profiles.audiences import segment_audience
from profiles.models import Profile, Segment


def profile_by_reference(*, reference: str, by: str = "") -> Profile:
    """The profile an API path names: its id or its external_id.

    A number is tried as an id, then as an external_id. When it is both (an id here, another
    profile's external_id there) the call is refused rather than guessed: `by` ("id" or
    "external_id") says which is meant. Raises Profile.DoesNotExist or AmbiguousReference.
    """
    if by == "external_id" or not reference.isdigit():
        return Profile.objects.get(external_id=reference)
    by_id = Profile.objects.filter(pk=int(reference)).first() if int(reference) < 2**63 else None
    if by == "id":
        if by_id is None:
            raise Profile.DoesNotExist(reference)
        return by_id
    by_external_id = Profile.objects.filter(external_id=reference).first()
    if by_id and by_external_id and by_id.pk != by_external_id.pk:
        raise AmbiguousReference(reference)
    if by_id or by_external_id:
        return by_id or by_external_id
    raise Profile.DoesNotExist(reference)


class AmbiguousReference(LookupError):
    """A number that is one profile's id and another's external_id."""


def segment_members(*, segment: Segment) -> QuerySet[Profile]:
    """The segment's current members as one SQL query (never loaded into Python)."""
    return segment_audience(segment)


def segment_count(*, segment: Segment) -> int:
    return segment_members(segment=segment).count()


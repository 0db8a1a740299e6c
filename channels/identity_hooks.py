"""Channels' part in a profile merge (registered with profiles.hooks in ChannelsConfig.ready).

The merged profile's deliveries move to the survivor. One delivery per (campaign step,
profile) is the rule, so where both profiles got the same step, the survivor's delivery is
kept and the merged profile's one is deleted (with its status log); the merge record counts
those under "deliveries_duplicates_deleted", registered before the move so it runs first.
"""

from __future__ import annotations

from channels.models import Delivery


def delete_colliding_deliveries(*, survivor_id: int, merged_id: int) -> int:
    survivor_steps = Delivery.objects.filter(
        profile_id=survivor_id, campaign_step_id__isnull=False
    ).values("campaign_step_id")
    colliding = Delivery.objects.filter(profile_id=merged_id, campaign_step_id__in=survivor_steps)
    deleted, by_model = colliding.delete()
    return by_model.get(Delivery._meta.label, 0)


def move_deliveries(*, survivor_id: int, merged_id: int) -> int:
    return Delivery.objects.filter(profile_id=merged_id).update(profile_id=survivor_id)


def register() -> None:
    from profiles.hooks import register_merge_handler

    register_merge_handler("deliveries_duplicates_deleted", delete_colliding_deliveries)
    register_merge_handler("deliveries", move_deliveries)

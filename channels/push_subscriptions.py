"""Push subscriptions as the channels see them: a device that answered "gone" is removed."""

from __future__ import annotations

from profiles.models import PushSubscription


def push_subscription_remove(*, kind: str, token: str) -> int:
    """Forget a subscription the push service no longer knows; return how many were removed.

    Called by the push backend on a 404/410/UNREGISTERED answer, so the next campaign does
    not try the dead device again.
    """
    deleted, _ = PushSubscription.objects.filter(kind=kind, token=token).delete()
    return deleted

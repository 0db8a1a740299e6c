"""Per-channel send rate, shared by every worker: settings.SEND_RATE_LIMITS, e.g.
{"sms": 10} = at most 10 SMS handed to the provider per second, whichever workers send them.

A fixed one-second window counted in Redis (INCR + EXPIRE, one round trip per message, only
on limited channels). A worker over the limit sleeps until the next second: providers
answer a burst with 429s, and waiting costs less than a retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings


class RateLimiter:
    def __init__(self, channel: str, per_second: int, *, connection=None,
                 clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None):
        if connection is None:
            import django_rq

            connection = django_rq.get_connection("send")
        self.channel, self.per_second = channel, per_second
        self._redis = connection
        self._clock = clock or (lambda: time.time())
        self._sleep = sleep or (lambda seconds: time.sleep(seconds))

    def wait(self) -> None:
        """Return once this message fits in the current second's allowance."""
        while True:
            now = self._clock()
            second = int(now)
            key = f"itinera:send-rate:{self.channel}:{second}"
            pipe = self._redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, 2)
            count, _ = pipe.execute()
            if count <= self.per_second:
                return
            self._sleep(max(second + 1 - now, 0.001))


def rate_limiter(channel: str) -> RateLimiter | None:
    limit = settings.SEND_RATE_LIMITS.get(channel)
    return RateLimiter(channel, int(limit)) if limit else None

"""Liveness for load balancers: is the database and Redis reachable? No auth, no secrets."""

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

PROBE_TIMEOUT = 2  # seconds: a load balancer must get an answer, not a hung request


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _redis_ok() -> bool:
    try:
        url = settings.RQ_QUEUES["default"]["URL"]
        client = redis.Redis.from_url(
            url, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@never_cache
@login_not_required
def healthz(request):
    checks = {"database": _database_ok(), "redis": _redis_ok()}
    status = 200 if all(checks.values()) else 503
    body = {"status": "ok" if status == 200 else "unavailable"}
    body.update({name: "ok" if up else "down" for name, up in checks.items()})
    return JsonResponse(body, status=status)

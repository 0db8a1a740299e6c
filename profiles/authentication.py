"""API tokens for integrators: `Authorization: Bearer itn_<prefix>_<secret>`, with scopes."""

from __future__ import annotations

import hmac
import time
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from profiles.models import ApiToken
from profiles.services import api_token_hash

LAST_USED_RESOLUTION = timedelta(minutes=1)
# A valid token is remembered by this process for a few seconds, so a burst of API calls
# does not look it up every time; a revocation reaches every process within this delay.
TOKEN_CACHE_SECONDS = 5.0


class _TokenCache:
    def __init__(self, ttl: float, size: int = 256):
        self._ttl, self._size = ttl, size
        self._entries: dict[str, tuple[float, ApiToken]] = {}

    def get(self, key: str) -> ApiToken | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, token: ApiToken) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self._ttl, token)

    def forget(self, token_id: int) -> None:
        for key, (_, token) in list(self._entries.items()):
            if token.pk == token_id:
                self._entries.pop(key, None)


_recent_tokens = _TokenCache(TOKEN_CACHE_SECONDS)


def forget_token(token_id: int) -> None:
    """Drop a revoked token from this process's memory at once."""
    _recent_tokens.forget(token_id)


class TokenUser:
    """The principal of a token-authenticated request (no Django user behind it)."""

    is_authenticated = True
    is_active = True
    is_staff = False

    def __init__(self, token: ApiToken):
        self.token = token
        self.pk = None

    def __str__(self) -> str:
        return f"token:{self.token.prefix}"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        token = self._token_for(header[1].decode("latin-1"))
        return TokenUser(token), token

    def _token_for(self, secret: str) -> ApiToken:
        parts = secret.split("_")
        if len(parts) < 3 or parts[0] != "itn":
            raise exceptions.AuthenticationFailed("Invalid token.")
        key_hash = api_token_hash(secret)
        token = _recent_tokens.get(key_hash)
        if token is None:
            token = ApiToken.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
            if token is None or not hmac.compare_digest(token.key_hash, key_hash):
                raise exceptions.AuthenticationFailed("Invalid token.")
            _recent_tokens.put(key_hash, token)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token

    def authenticate_header(self, request) -> str:
        return self.keyword


class HasTokenScope(permissions.BasePermission):
    """Views declare `required_scopes = {"GET": "profiles:read", "POST": "profiles:write"}`."""

    message = "This token lacks the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiToken):
            return False
        required = getattr(view, "required_scopes", {})
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        scope = required.get(method)
        if scope is None:
            # An endpoint that forgot to declare its scope is closed, not open.
            return False
        if scope not in request.auth.scopes:
            self.message = f"This token lacks the '{scope}' scope."
            return False
        return True

"""API tokens for integrators: `Authorization: Bearer itn_<prefix>_<secret>`, with scopes."""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from profiles.models import ApiToken
from profiles.services import api_token_hash

LAST_USED_RESOLUTION = timedelta(minutes=1)


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
        token = ApiToken.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
        if token is None or not hmac.compare_digest(token.key_hash, api_token_hash(secret)):
            raise exceptions.AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
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

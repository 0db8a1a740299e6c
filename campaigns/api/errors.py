"""How the campaign API answers a refusal: 400 with field errors, 409 for a status conflict."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.settings import api_settings

from campaigns.errors import CampaignError


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def refused(exc: CampaignError | ValueError, *, field: str = "",
            status_conflict: bool = True) -> APIException:
    """A CampaignError naming fields or steps is a 400 in DRF's shape ({field: [messages]},
    problems of the graph under {"steps": {key: [messages]}}); one with only a general
    message is about the campaign's status, a 409 — unless `status_conflict` is off, when it
    is a 400 on `field`. A ValueError (a payload not of the expected shape) is a 400 on
    `field`."""
    general = field or api_settings.NON_FIELD_ERRORS_KEY
    if not isinstance(exc, CampaignError):
        return ValidationError({general: [str(exc)]})
    errors = dict(exc.errors)
    if set(errors) == {"__all__"} and status_conflict:
        return Conflict(str(errors["__all__"]))
    if "__all__" in errors:
        errors[general] = errors.pop("__all__")
    return ValidationError(_as_lists(errors))


def _as_lists(errors: dict[str, Any]) -> dict[str, Any]:
    """{field: [messages]} as serializers answer, at every level ({"steps": {key: [...]}})."""
    return {key: _as_lists(value) if isinstance(value, dict)
            else list(value) if isinstance(value, list | tuple) else [str(value)]
            for key, value in errors.items()}

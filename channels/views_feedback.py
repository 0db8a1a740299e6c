"""Provider feedback webhooks: public, signed (HMAC-SHA256 of the raw body), CSRF-exempt."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels.feedback import SIGNATURE_HEADER, feedback_apply, feedback_parse, signature_valid

MAX_BODY_BYTES = 1_048_576


@csrf_exempt
@login_not_required
@require_POST
def feedback_hook(request, provider: str):
    if len(request.body) > MAX_BODY_BYTES:
        return JsonResponse({"error": "Body too large."}, status=413)
    if not signature_valid(body=request.body, signature=request.headers.get(SIGNATURE_HEADER, "")):
        return JsonResponse({"error": "Invalid signature."}, status=401)
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "The body is not JSON."}, status=400)
    events, errors = feedback_parse(payload)
    result = feedback_apply(provider=provider[:64], events=events)
    result.errors = errors
    return JsonResponse(result.as_dict(), status=200)

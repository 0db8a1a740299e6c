"""Provider webhooks for inbound SMS: public (no login, no CSRF), signature-checked."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels.inbound import itinera_signature_valid, sms_inbound_apply, twilio_signature_valid


@csrf_exempt
@login_not_required
@require_POST
def sms_inbound(request):
    body = request.body
    if not itinera_signature_valid(
        body=body, timestamp=request.headers.get("X-Itinera-Timestamp", ""),
        header=request.headers.get("X-Itinera-Signature", ""),
    ):
        return JsonResponse({"detail": "Invalid signature."}, status=401)
    try:
        message = json.loads(body)
        phone, text = str(message["from"]), str(message["body"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"detail": "Expected JSON with from and body."}, status=400)
    result = sms_inbound_apply(phone=phone, text=text)
    return JsonResponse({"keyword": result.keyword, "changed": result.profiles_changed})


@csrf_exempt
@login_not_required
@require_POST
def sms_inbound_twilio(request):
    params = request.POST.dict()
    if not twilio_signature_valid(
        url=request.build_absolute_uri(), params=params,
        header=request.headers.get("X-Twilio-Signature", ""),
    ):
        return HttpResponse("Invalid signature.", status=401, content_type="text/plain")
    sms_inbound_apply(phone=params.get("From", ""), text=params.get("Body", ""))
    # An empty TwiML answer: no auto-reply from us (Twilio sends its own STOP confirmation).
    return HttpResponse("<Response/>", content_type="text/xml")

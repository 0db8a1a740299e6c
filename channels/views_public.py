"""Public endpoints reached from messages: open pixel, click redirect, unsubscribe.

No login, no cookie, no CSRF token: a mail client or provider calls them. Each answers 404 to
anything but a genuine signed token, and a click only ever goes to a URL we stored.
"""

from __future__ import annotations

import base64

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from channels import tracking, unsubscribe

# A transparent 1×1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@login_not_required
@never_cache
@require_GET
def track_open(request, token: str):
    if not tracking.open_record(token=token):
        raise Http404
    return HttpResponse(PIXEL, content_type="image/gif")


@login_not_required
@never_cache
@require_GET
def track_click(request, token: str):
    url = tracking.click_record(token=token)
    if url is None:
        raise Http404
    return HttpResponseRedirect(url)


@login_not_required
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request, token: str):
    delivery = unsubscribe.delivery_for_token(token)
    if delivery is None:
        raise Http404
    done = saved = False
    if request.method == "POST":
        if request.POST.get("action") == "preferences":
            unsubscribe.preferences_save(
                delivery=delivery, subscribed=set(request.POST.getlist("topics"))
            )
            saved = True
        else:  # RFC 8058 one-click (List-Unsubscribe=One-Click) or the page's button
            unsubscribe.unsubscribe(delivery=delivery)
            done = True
    context = {
        "done": done, "saved": saved, "token": token,
        "topics": unsubscribe.preferences(delivery=delivery),
    }
    return render(request, "channels/unsubscribe.html", context)

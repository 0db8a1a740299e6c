from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from channels.mailsink import read_captured
from channels.models import Delivery, DeliveryStatus
from channels.selectors import delivery_list

PAGE_SIZE = 50


@permission_required("channels.view_delivery", raise_exception=True)
def delivery_index(request):
    status = request.GET.get("status", "")
    query = request.GET.get("q", "")
    campaign = request.GET.get("campaign", "")
    deliveries = delivery_list(
        status=status, query=query, campaign_id=int(campaign) if campaign.isdigit() else None
    )
    context = {
        "page": Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page")),
        "status": status, "query": query, "campaign": campaign,
        "statuses": DeliveryStatus.choices,
    }
    return render(request, "channels/delivery_list.html", context)


@permission_required("channels.view_delivery", raise_exception=True)
def delivery_detail(request, pk: int):
    delivery = get_object_or_404(
        Delivery.objects.select_related("profile", "campaign_step__campaign"), pk=pk
    )
    captured = read_captured(delivery.provider_message_id) if delivery.provider_message_id else None
    context = {
        "delivery": delivery,
        "events": delivery.events.all(),
        "captured": _captured_parts(captured) if captured else None,
    }
    return render(request, "channels/delivery_detail.html", context)


def _captured_parts(message) -> dict:
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    return {
        "headers": [(k, v) for k, v in message.items() if k.lower() in CAPTURED_HEADERS],
        "html": html.get_content() if html else "",
        "text": text.get_content() if text else "",
    }


CAPTURED_HEADERS = {"from", "to", "subject", "date", "message-id"}

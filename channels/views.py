from __future__ import annotations

import io

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from channels.delivery_log import DeliveryFilters, delivery_log_page
from channels.mailsink import read_captured
from channels.models import AddressKind, Channel, Delivery, DeliveryStatus, Reason, Suppression
from channels.suppression import (
    SuppressionError,
    suppress,
    suppression_search,
    suppressions_import,
    unsuppress,
)
from profiles.fields import FieldError

SUPPRESSION_PAGE_SIZE = 50
IMPORT_MAX_BYTES = 10 * 1024 * 1024


@permission_required("channels.view_delivery", raise_exception=True)
def delivery_index(request):
    filters = DeliveryFilters.from_query(request.GET)
    page = delivery_log_page(
        filters=filters,
        before=_int(request.GET.get("before")),
        after=_int(request.GET.get("after")),
    )
    keep = {k: v for k, v in request.GET.items() if k not in ("before", "after") and v}
    context = {
        "page": page, "filters": filters, "params": keep, "section": "delivery",
        "statuses": DeliveryStatus.choices, "channels": Channel.choices, "reasons": Reason.choices,
    }
    return render(request, "channels/delivery_list.html", context)


def _int(value) -> int | None:
    return int(value) if value and value.isdigit() else None


@permission_required("channels.view_delivery", raise_exception=True)
def delivery_detail(request, pk: int):
    delivery = get_object_or_404(
        Delivery.objects.select_related("profile", "campaign_step__campaign"), pk=pk
    )
    captured = read_captured(delivery.provider_message_id) if delivery.provider_message_id else None
    context = {
        "delivery": delivery, "section": "delivery",
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


@permission_required("channels.view_suppression", raise_exception=True)
def suppression_index(request):
    query, kind = request.GET.get("q", ""), request.GET.get("kind", "")
    rows = suppression_search(query=query, kind=kind if kind in AddressKind.values else "")
    # Newest first. The paginator's COUNT(*) is fine here: the list is addresses, not messages.
    page = Paginator(rows, SUPPRESSION_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "query": query, "kind": kind, "kinds": AddressKind.choices,
               "section": "suppression"}
    return render(request, "channels/suppression_list.html", context)


@require_POST
@permission_required("channels.add_suppression", raise_exception=True)
def suppression_add(request):
    kind = request.POST.get("kind", "")
    address = request.POST.get("address", "")
    try:
        row, created = suppress(kind=kind, address=address, cause=Suppression.Cause.MANUAL,
                                note=request.POST.get("note", ""))
    except (FieldError, SuppressionError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{row.address} is suppressed." if created
                         else f"{row.address} was already suppressed ({row.get_cause_display()}).")
    return redirect("suppression_list")


@require_POST
@permission_required("channels.delete_suppression", raise_exception=True)
def suppression_remove(request, pk: int):
    row = get_object_or_404(Suppression, pk=pk)
    unsuppress(kind=row.kind, address=row.address)
    messages.success(request, f"{row.address} can be sent to again.")
    return redirect("suppression_list")


@permission_required("channels.add_suppression", raise_exception=True)
def suppression_import(request):
    context = {"section": "suppression"}
    upload = request.FILES.get("file") if request.method == "POST" else None
    if request.method == "POST" and upload is None:
        context["error"] = "Choose a CSV file."
    elif upload is not None and upload.size > IMPORT_MAX_BYTES:
        context["error"] = "The file is larger than 10 MB."
    elif upload is not None:
        text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", errors="replace", newline="")
        try:
            context["result"] = suppressions_import(stream=text, note=f"Imported {upload.name}")
        except SuppressionError as exc:
            context["error"] = str(exc)
    return render(request, "channels/suppression_import.html", context)

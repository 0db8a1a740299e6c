"""Marketer pages for placements and offers, with a "which offer would this profile get?"
preview. Thin: forms validate, channels.decisions saves and decides."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from channels.decisions import (
    OfferError,
    decision_preview,
    offer_delete,
    offer_save,
    placement_offers,
    placement_save,
    placement_summaries,
    preview_profile,
)
from channels.forms import OfferForm, PlacementForm, PreviewForm
from channels.models import Offer, Placement
from profiles.rules import RuleError
from profiles.segments import describe_rules


@permission_required("channels.view_placement", raise_exception=True)
def placement_list(request):
    return render(request, "channels/placement_list.html", {"placements": placement_summaries()})


@permission_required("channels.view_placement", raise_exception=True)
def placement_detail(request, pk: int):
    placement = get_object_or_404(Placement.objects.select_related("fallback"), pk=pk)
    form = PreviewForm(request.GET if "profile" in request.GET else None)
    preview, missing, verdicts = None, False, {}
    if form.is_valid():
        profile = preview_profile(reference=form.cleaned_data["profile"])
        if profile is None:
            missing = True
        else:
            result = decision_preview(placement=placement, profile=profile)
            preview = {"profile": profile, "decision": result.decision}
            verdicts = {offer.pk: verdict for offer, verdict in result.verdicts}
    offers = [(offer, _eligibility(offer), verdicts.get(offer.pk, ""))
              for offer in placement_offers(placement=placement)]
    context = {"placement": placement, "offers": offers, "form": form, "preview": preview,
               "missing": missing}
    return render(request, "channels/placement_detail.html", context)


def _eligibility(offer: Offer) -> str:
    rules = describe_rules(offer.rules) if offer.rules else ""
    segment = f"in {offer.segment.name}" if offer.segment_id else ""
    return " and ".join(p for p in (segment, rules) if p and p != "everyone") or "everyone"


@permission_required("channels.add_placement", raise_exception=True)
def placement_create(request):
    return _placement_form(request, None)


@permission_required("channels.change_placement", raise_exception=True)
def placement_edit(request, pk: int):
    return _placement_form(request, get_object_or_404(Placement, pk=pk))


def _placement_form(request, placement: Placement | None):
    form = PlacementForm(request.POST or None, instance=placement)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = placement_save(placement=placement, key=data["key"], name=data["name"],
                                   description=data["description"],
                                   fallback=data.get("fallback"))
        except OfferError as exc:
            form.apply_error(exc)
        else:
            messages.success(request, f"Placement “{saved.name}” saved.")
            return redirect("placement_detail", pk=saved.pk)
    return render(request, "channels/placement_form.html", {"form": form,
                                                            "placement": placement})


@permission_required("channels.add_offer", raise_exception=True)
def offer_create(request, placement_pk: int):
    placement = get_object_or_404(Placement, pk=placement_pk)
    return _offer_form(request, placement, None)


@permission_required("channels.change_offer", raise_exception=True)
def offer_edit(request, pk: int):
    offer = get_object_or_404(Offer.objects.select_related("placement"), pk=pk)
    return _offer_form(request, offer.placement, offer)


def _offer_form(request, placement: Placement, offer: Offer | None):
    form = OfferForm(request.POST or None, instance=offer)
    if request.method == "POST" and form.is_valid():
        try:
            saved = offer_save(offer=offer, placement=placement, data=form.offer_data())
        except (RuleError, OfferError) as exc:
            form.apply_error(exc)
        else:
            messages.success(request, f"Offer “{saved.name}” saved.")
            return redirect("placement_detail", pk=placement.pk)
    context = {"form": form, "placement": placement, "offer": offer}
    return render(request, "channels/offer_form.html", context)


@require_POST
@permission_required("channels.delete_offer", raise_exception=True)
def offer_remove(request, pk: int):
    offer = get_object_or_404(Offer, pk=pk)
    offer_delete(offer=offer)
    messages.success(request, f"Offer “{offer.name}” deleted.")
    return redirect("placement_detail", pk=offer.placement_id)

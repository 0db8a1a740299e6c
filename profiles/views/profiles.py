from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from profiles.models import Profile
from profiles.selectors import profile_search

PAGE_SIZE = 50


@permission_required("profiles.view_profile", raise_exception=True)
def profile_list(request):
    query = request.GET.get("q", "")
    page = Paginator(profile_search(query=query), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "profiles/profile_list.html", {"page": page, "query": query})


@permission_required("profiles.view_profile", raise_exception=True)
def profile_detail(request, pk: int):
    profile = get_object_or_404(Profile, pk=pk)
    context = {
        "profile": profile,
        "events": profile.events.all()[:20],
        "deliveries": profile.deliveries.select_related("campaign_step__campaign")[:20],
    }
    return render(request, "profiles/profile_detail.html", context)

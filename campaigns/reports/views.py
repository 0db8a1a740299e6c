"""Report pages: the dashboard, a campaign's report, its CSV, the delivery log's CSV, and
declaring a split's winner. Thin: each reads one selector or calls one service."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from campaigns.models import Campaign
from campaigns.reports.charts import dashboard_chart, report_chart
from campaigns.reports.dashboard import dashboard_figures
from campaigns.reports.exports import csv_lines, delivery_log_rows, report_rows
from campaigns.reports.figures import campaign_report
from campaigns.reports.winner import winner_declare
from campaigns.services import CampaignError
from channels.delivery_log import DeliveryFilters


def dashboard(request):
    figures = dashboard_figures()
    return render(request, "campaigns/dashboard.html",
                  {**figures, "chart": dashboard_chart(figures["messages_by_channel"])})


@permission_required("campaigns.view_campaign", raise_exception=True)
def campaign_report_page(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    report = campaign_report(campaign=campaign)
    context = {"campaign": campaign, "report": report, "chart": report_chart(report["series"]),
               "can_declare": request.user.has_perm("campaigns.change_campaign")}
    return render(request, "reports/campaign_report.html", context)


@permission_required("campaigns.view_campaign", raise_exception=True)
def campaign_report_csv(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    rows = report_rows(campaign_report(campaign=campaign))
    return _csv(rows, f"campaign-{campaign.pk}-report")


@permission_required("channels.view_delivery", raise_exception=True)
def delivery_log_csv(request):
    return _csv(delivery_log_rows(DeliveryFilters.from_query(request.GET)), "deliveries")


def _csv(rows, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


@require_POST
@permission_required("campaigns.change_campaign", raise_exception=True)
def campaign_declare_winner(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    step_key, branch = request.POST.get("step", ""), request.POST.get("branch", "")
    try:
        winner_declare(campaign=campaign, step_key=step_key, branch=branch)
    except CampaignError as exc:
        for message in exc.errors.values():
            messages.error(request, message)
    else:
        messages.success(request, f"Branch “{branch}” declared the winner: new entrants take it.")
    return redirect("campaign_report", pk=pk)

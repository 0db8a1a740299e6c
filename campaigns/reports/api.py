"""Report figures for integrators: the same selectors as the pages, as JSON.

    GET /api/v1/campaigns/{id}/report   campaign_report (scope campaigns:read)
    GET /api/v1/stats                   dashboard_figures (scope campaigns:read)
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Campaign
from campaigns.reports.dashboard import dashboard_figures
from campaigns.reports.figures import campaign_report


@extend_schema(tags=["reports"], responses={200: OpenApiTypes.OBJECT},
               description="A campaign's report: totals and rates, the funnel per step, the "
                           "time series, clicks per link, skips by reason, split branches "
                           "with intervals and p-values, and the control group's lift. Proof "
                           "sends excluded.")
class CampaignReportView(APIView):
    required_scopes = {"GET": "campaigns:read"}

    def get(self, request, pk: int) -> Response:
        return Response(campaign_report(campaign=get_object_or_404(Campaign, pk=pk)))


@extend_schema(tags=["reports"], responses={200: OpenApiTypes.OBJECT},
               description="The dashboard's figures: messages by channel (7 and 30 days, per "
                           "day), running and scheduled campaigns with key rates, recent "
                           "imports, and deliverability per sending domain.")
class StatsView(APIView):
    required_scopes = {"GET": "campaigns:read"}

    def get(self, request) -> Response:
        return Response(dashboard_figures())

"""The integrator API: a versioned router plus the OpenAPI schema and its (self-hosted) docs."""

from django.contrib.auth.views import redirect_to_login
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import NotAuthenticated
from rest_framework.routers import SimpleRouter

from campaigns.api import CampaignViewSet
from campaigns.reports.api import CampaignReportView, StatsView
from channels.api import DecisionView, OfferViewSet, PlacementViewSet
from channels.api_messages import DeliveryListView, MessageView
from profiles.api.ingestion import (
    EventBatchView,
    EventView,
    IdentifyView,
    ProfileEventsView,
)
from profiles.api.profiles import ProfileViewSet

router = SimpleRouter()
router.register("profiles", ProfileViewSet, basename="api-profile")
router.register("campaigns", CampaignViewSet, basename="api-campaign")
router.register("placements", PlacementViewSet, basename="api-placement")
router.register("offers", OfferViewSet, basename="api-offer")


class ApiDocsView(SpectacularSwaggerView):
    """Swagger UI; its assets come from drf-spectacular-sidecar (SWAGGER_UI_DIST="SIDECAR")."""

    def handle_exception(self, exc):
        # A person opening the docs in a browser is better served by the login page than a 403.
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


urlpatterns = [
    # Ingestion (its own views, before the router so profiles/<key>/events wins).
    re_path(r"^v1/identify/?$", IdentifyView.as_view(), name="api-identify"),
    re_path(r"^v1/events/?$", EventView.as_view(), name="api-events"),
    re_path(r"^v1/events/batch/?$", EventBatchView.as_view(), name="api-events-batch"),
    re_path(r"^v1/profiles/(?P<ref>[^/]+)/events/?$", ProfileEventsView.as_view(),
            name="api-profile-events"),
    re_path(r"^v1/decisions/(?P<placement_key>[-a-zA-Z0-9_]+)/?$", DecisionView.as_view(),
            name="api-decision"),
    re_path(r"^v1/messages/?$", MessageView.as_view(), name="api-messages"),
    re_path(r"^v1/deliveries/?$", DeliveryListView.as_view(), name="api-deliveries"),
    re_path(r"^v1/campaigns/(?P<pk>[0-9]+)/report/?$", CampaignReportView.as_view(),
            name="api-campaign-report"),
    re_path(r"^v1/stats/?$", StatsView.as_view(), name="api-stats"),
    path("v1/", include("profiles.api.imports")),  # CSV imports (their own routes)
    path("v1/", include("profiles.api.segments")),  # segments, lists, profile membership
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
]

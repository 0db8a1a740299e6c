"""Integrator API of campaigns and journeys (see views for the routes)."""

from campaigns.api.views import CampaignViewSet

__all__ = ["CampaignViewSet"]

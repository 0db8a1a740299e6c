from django.urls import path

from campaigns import views
from campaigns.reports import views as reports_views

urlpatterns = [
    path("", reports_views.dashboard, name="dashboard"),
    path("campaigns/", views.campaign_index, name="campaign_list"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:pk>/preview/", views.campaign_preview_page, name="campaign_preview"),
    path("campaigns/<int:pk>/progress/", views.campaign_progress, name="campaign_progress"),
    path("campaigns/<int:pk>/schedule/", views.campaign_schedule_view, name="campaign_schedule"),
    path(
        "campaigns/<int:pk>/unschedule/", views.campaign_unschedule_view, name="campaign_unschedule"
    ),
]

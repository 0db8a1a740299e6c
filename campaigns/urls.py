from django.urls import path

from campaigns import designer_views as designer
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
    # Journeys: settings, the designer and its in-place step operations, lifecycle, versions.
    path("campaigns/journey/new/", views.campaign_settings_new, name="campaign_settings_new"),
    path("campaigns/<int:pk>/settings/", views.campaign_settings, name="campaign_settings"),
    path("campaigns/<int:pk>/designer/", designer.designer_page, name="campaign_designer"),
    path("campaigns/<int:pk>/designer/flow/", designer.designer_flow, name="campaign_flow"),
    path("campaigns/<int:pk>/designer/steps/new/", designer.step_new, name="campaign_step_new"),
    path("campaigns/<int:pk>/designer/steps/<slug:key>/", designer.step_edit,
         name="campaign_step_edit"),
    path("campaigns/<int:pk>/designer/steps/<slug:key>/delete/", designer.step_delete,
         name="campaign_step_delete"),
    path("campaigns/<int:pk>/designer/steps/<slug:key>/move/", designer.step_move,
         name="campaign_step_move"),
    path("campaigns/<int:pk>/designer/steps/<slug:key>/link/", designer.step_link,
         name="campaign_step_link"),
    path("campaigns/<int:pk>/designer/steps/<slug:key>/start/", designer.step_start,
         name="campaign_step_start"),
    path("campaigns/<int:pk>/simulate/", designer.campaign_simulate, name="campaign_simulate"),
    path("campaigns/<int:pk>/lifecycle/<slug:action>/", designer.campaign_lifecycle,
         name="campaign_lifecycle"),
    path("campaigns/<int:pk>/versions/new/", designer.version_new, name="campaign_version_new"),
    path("campaigns/<int:pk>/versions/<int:number>/move/", designer.version_move,
         name="campaign_version_move"),
]

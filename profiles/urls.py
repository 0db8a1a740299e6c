from django.urls import path

from profiles.views import profiles as profile_views
from profiles.views import segments as segment_views

urlpatterns = [
    path("profiles/", profile_views.profile_list, name="profile_list"),
    path("profiles/<int:pk>/", profile_views.profile_detail, name="profile_detail"),
    path("segments/", segment_views.segment_list, name="segment_list"),
    path("segments/new/", segment_views.segment_create, name="segment_create"),
    path("segments/<int:pk>/", segment_views.segment_detail, name="segment_detail"),
    path("segments/<int:pk>/edit/", segment_views.segment_edit, name="segment_edit"),
]

from django.urls import path

from profiles import views

urlpatterns = [
    path("profiles/", views.profile_list, name="profile_list"),
    path("profiles/<int:pk>/", views.profile_detail, name="profile_detail"),
    path("segments/", views.segment_list, name="segment_list"),
    path("segments/new/", views.segment_create, name="segment_create"),
    path("segments/<int:pk>/", views.segment_detail, name="segment_detail"),
    path("segments/<int:pk>/edit/", views.segment_edit, name="segment_edit"),
]

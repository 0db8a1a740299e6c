from django.urls import path

from profiles.views import imports as import_views
from profiles.views import lists as list_views
from profiles.views import profiles as profile_views
from profiles.views import schema as schema_views
from profiles.views import segments as segment_views

urlpatterns = [
    path("profiles/", profile_views.profile_list, name="profile_list"),
    path("profiles/add-to-list/", list_views.profile_list_add, name="profile_list_add"),
    path("profiles/<int:pk>/", profile_views.profile_detail, name="profile_detail"),
    path("profiles/<int:pk>/edit/", profile_views.profile_edit, name="profile_edit"),
    path("profiles/<int:pk>/consent/", profile_views.profile_consent, name="profile_consent"),
    path("profiles/<int:pk>/export/", profile_views.profile_export_download,
         name="profile_export"),
    path("profiles/<int:pk>/erase/", profile_views.profile_erase_confirm, name="profile_erase"),
    path("settings/attributes/", schema_views.attribute_list, name="attribute_list"),
    path("settings/attributes/new/", schema_views.attribute_create, name="attribute_create"),
    path("settings/attributes/<int:pk>/edit/", schema_views.attribute_edit,
         name="attribute_edit"),
    path("settings/attributes/<int:pk>/delete/", schema_views.attribute_delete,
         name="attribute_delete"),
    path("settings/topics/", schema_views.topic_list, name="topic_list"),
    path("settings/topics/new/", schema_views.topic_create, name="topic_create"),
    path("settings/topics/<int:pk>/edit/", schema_views.topic_edit, name="topic_edit"),
    path("profiles/imports/", import_views.import_list, name="import_list"),
    path("profiles/imports/new/", import_views.import_new, name="import_new"),
    path("profiles/imports/<int:pk>/", import_views.import_detail, name="import_detail"),
    path("profiles/imports/<int:pk>/progress/", import_views.import_progress_json,
         name="import_progress"),
    path("profiles/imports/<int:pk>/cancel/", import_views.import_cancel_view,
         name="import_cancel"),
    path("profiles/imports/<int:pk>/start/", import_views.import_restart, name="import_restart"),
    path("profiles/imports/<int:pk>/errors.csv", import_views.import_errors,
         name="import_errors"),
    path("segments/", segment_views.segment_list, name="segment_list"),
    path("segments/new/", segment_views.segment_create, name="segment_create"),
    path("segments/<int:pk>/", segment_views.segment_detail, name="segment_detail"),
    path("segments/<int:pk>/edit/", segment_views.segment_edit, name="segment_edit"),
    path("segments/builder/", segment_views.segment_builder, name="segment_builder"),
    path("segments/<int:pk>/builder/", segment_views.segment_builder,
         name="segment_builder_edit"),
    path("segments/preview/", segment_views.segment_preview, name="segment_preview"),
    path("segments/<int:pk>/preview/", segment_views.segment_preview,
         name="segment_preview_edit"),
    path("segments/<int:pk>/duplicate/", segment_views.segment_copy, name="segment_duplicate"),
    path("segments/<int:pk>/members/csv/", segment_views.segment_members_csv,
         name="segment_members_csv"),
    path("segments/<int:pk>/members/<int:profile_pk>/remove/",
         segment_views.segment_member_remove, name="segment_member_remove"),
]

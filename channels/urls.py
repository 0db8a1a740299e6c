from django.urls import path

from channels import views, views_decisions, views_feedback, views_templates
from channels.views_inbound import sms_inbound, sms_inbound_twilio
from channels.views_mail_exports import mail_export_download, mail_export_list

urlpatterns = [
    path("deliveries/", views.delivery_index, name="delivery_list"),
    path("deliveries/<int:pk>/", views.delivery_detail, name="delivery_detail"),
    path("suppressions/", views.suppression_index, name="suppression_list"),
    path("suppressions/add/", views.suppression_add, name="suppression_add"),
    path("suppressions/<int:pk>/remove/", views.suppression_remove, name="suppression_remove"),
    path("suppressions/import/", views.suppression_import, name="suppression_import"),
    path("hooks/feedback/<slug:provider>", views_feedback.feedback_hook, name="feedback_hook"),
    path("offers/", views_decisions.placement_list, name="placement_list"),
    path("offers/placements/new/", views_decisions.placement_create, name="placement_create"),
    path("offers/placements/<int:pk>/", views_decisions.placement_detail,
         name="placement_detail"),
    path("offers/placements/<int:pk>/edit/", views_decisions.placement_edit,
         name="placement_edit"),
    path("offers/placements/<int:placement_pk>/offers/new/", views_decisions.offer_create,
         name="offer_create"),
    path("offers/<int:pk>/edit/", views_decisions.offer_edit, name="offer_edit"),
    path("offers/<int:pk>/delete/", views_decisions.offer_remove, name="offer_delete"),
    path("hooks/sms/inbound", sms_inbound, name="sms_inbound"),
    path("hooks/sms/inbound/twilio", sms_inbound_twilio, name="sms_inbound_twilio"),
    path("mail-exports/", mail_export_list, name="mail_export_list"),
    path("mail-exports/<int:pk>/download/", mail_export_download, name="mail_export_download"),
    path("templates/", views_templates.template_list, name="template_list"),
    path("templates/new/", views_templates.template_create, name="template_create"),
    path("templates/<int:pk>/", views_templates.template_preview, name="template_preview"),
    path("templates/<int:pk>/edit/", views_templates.template_edit, name="template_edit"),
    path("templates/<int:pk>/proof/", views_templates.template_proof, name="template_proof"),
    path("templates/snippets/", views_templates.snippet_list, name="snippet_list"),
    path("templates/snippets/new/", views_templates.snippet_edit, name="snippet_create"),
    path("templates/snippets/<int:pk>/", views_templates.snippet_edit, name="snippet_edit"),
    path("templates/seed-lists/", views_templates.seed_list_index, name="seed_list_index"),
]

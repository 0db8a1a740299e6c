from django.urls import path

from campaigns.reports import views

urlpatterns = [
    path("campaigns/<int:pk>/report/", views.campaign_report_page, name="campaign_report"),
    path("campaigns/<int:pk>/report.csv", views.campaign_report_csv, name="campaign_report_csv"),
    path("campaigns/<int:pk>/report/winner/", views.campaign_declare_winner,
         name="campaign_declare_winner"),
    path("deliveries/export.csv", views.delivery_log_csv, name="delivery_log_csv"),
]

from django.urls import path

from channels import views_public

# Public (login_not_required on each view): reached from messages, by recipients and providers.
urlpatterns = [
    path("t/o/<str:token>.gif", views_public.track_open, name="track_open"),
    path("t/c/<str:token>", views_public.track_click, name="track_click"),
    path("u/<str:token>", views_public.unsubscribe_page, name="unsubscribe"),
]

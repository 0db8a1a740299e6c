from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("login/", login_not_required(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("config.api")),
    path("", include("campaigns.reports.urls")),
    path("", include("campaigns.urls")),
    path("", include("profiles.urls")),
    path("", include("channels.urls")),
    path("", include("channels.urls_public")),
]

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from data_browser.api.middleware import unknown_path

from . import health, metrics

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("exports/", include("exports.urls")),
    path("api/v3/", include("data_browser.api.urls")),
    re_path(r"^api(?:/(?P<rest>.*))?$", unknown_path, name="api_unknown"),
    path("", include("data_browser.urls")),
]

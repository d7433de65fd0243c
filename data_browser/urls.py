from django.urls import include, path

from . import media, shell_views

app_name = "data_browser"

urlpatterns = [
    path("", shell_views.pending, {"title": "Experiments"}, name="experiments"),
    path("media/<str:token>/", media.media_download, name="media"),
    path("keys/", include("data_browser.api.dashboard_urls")),
    path("", include("data_browser.governance.urls")),
]

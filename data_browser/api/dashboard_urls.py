from django.urls import path

from data_browser import shell_views

urlpatterns = [
    path("", shell_views.pending, {"title": "API Keys"}, name="api_keys"),
    path("docs/", shell_views.pending, {"title": "API documentation"}, name="api_docs"),
]

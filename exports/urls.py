from django.urls import path

from data_browser import shell_views

app_name = "exports"

urlpatterns = [
    path("", shell_views.pending, {"title": "My exports"}, name="list"),
]

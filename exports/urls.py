from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("", views.export_list, name="list"),
    path("new/", views.new_export, name="new"),
    path("<uuid:public_id>/", views.job_detail, name="detail"),
    path("<uuid:public_id>/cancel/", views.cancel, name="cancel"),
    path("<uuid:public_id>/delete/", views.delete, name="delete"),
    path("<uuid:public_id>/download/", views.download, name="download"),
    path("signed/<str:token>/", views.signed_download, name="signed_download"),
]

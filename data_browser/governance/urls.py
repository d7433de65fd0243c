"""Access, lab administration, participants' data, deletion and the audit log."""

from django.urls import path

from . import views

urlpatterns = [
    path("access/", views.access_index, name="access"),
    path("access/<str:experiment_id>/", views.experiment_access, name="experiment_access"),
    path("access/<str:experiment_id>/members/", views.member_add, name="member_add"),
    path(
        "access/<str:experiment_id>/members/<int:membership_id>/",
        views.member_change,
        name="member_change",
    ),
    path(
        "access/<str:experiment_id>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("access/<str:experiment_id>/ownership/", views.ownership, name="ownership"),
    path("access/<str:experiment_id>/retention/", views.retention, name="retention"),
    path("access/<str:experiment_id>/status/", views.experiment_status, name="experiment_status"),
    path(
        "access/<str:experiment_id>/requests/",
        views.experiment_requests,
        name="experiment_requests",
    ),
    path(
        "access/<str:experiment_id>/requests/<int:request_id>/",
        views.request_decide,
        name="request_decide",
    ),
    path("access/<str:experiment_id>/data/", views.manage_data, name="manage_data"),
    path(
        "access/<str:experiment_id>/data/delete/",
        views.delete_experiment_data,
        name="delete_experiment_data",
    ),
    path(
        "access/<str:experiment_id>/rooms/<str:room_id>/delete/",
        views.delete_room,
        name="delete_room",
    ),
    path(
        "access/<str:experiment_id>/participants/<str:participant_id>/delete/",
        views.delete_participant,
        name="delete_participant",
    ),
    path("lab/", views.lab_access, name="lab_access"),
    path("lab/users/new/", views.lab_user_create, name="lab_user_create"),
    path("lab/users/<int:user_id>/active/", views.lab_user_active, name="lab_user_active"),
    path("lab/users/<int:user_id>/unlock/", views.lab_user_unlock, name="lab_user_unlock"),
    path(
        "lab/users/<int:user_id>/password-reset/",
        views.lab_user_password_reset,
        name="lab_user_password_reset",
    ),
    path("lab/keys/<int:key_id>/revoke/", views.lab_key_revoke, name="lab_key_revoke"),
    path("set-password/<uidb64>/<token>/", views.SetPasswordView.as_view(), name="set_password"),
    path("audit/", views.audit_log, name="audit"),
    path("audit/export.csv", views.audit_csv, name="audit_csv"),
    path("my-data/", views.my_data, name="my_data"),
    path("my-data/requests/", views.my_data_request, name="my_data_request"),
    path("my-data/requests/<int:request_id>/export/", views.my_data_export, name="my_data_export"),
]

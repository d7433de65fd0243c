"""Access, lab administration, participants' data, deletion and the audit log."""

from django.urls import path

from .views import audit_log, data_requests, deletion, lab, memberships, my_data, retention

urlpatterns = [
    path("access/", memberships.access_index, name="access"),
    path("access/<str:experiment_id>/", memberships.experiment_access, name="experiment_access"),
    path("access/<str:experiment_id>/members/", memberships.member_add, name="member_add"),
    path(
        "access/<str:experiment_id>/members/<int:membership_id>/",
        memberships.member_change,
        name="member_change",
    ),
    path(
        "access/<str:experiment_id>/members/<int:membership_id>/remove/",
        memberships.member_remove,
        name="member_remove",
    ),
    path("access/<str:experiment_id>/ownership/", memberships.ownership, name="ownership"),
    path("access/<str:experiment_id>/retention/", retention.retention, name="retention"),
    path(
        "access/<str:experiment_id>/status/", retention.experiment_status, name="experiment_status"
    ),
    path(
        "access/<str:experiment_id>/requests/",
        data_requests.experiment_requests,
        name="experiment_requests",
    ),
    path(
        "access/<str:experiment_id>/requests/<int:request_id>/",
        data_requests.request_decide,
        name="request_decide",
    ),
    path("access/<str:experiment_id>/data/", deletion.manage_data, name="manage_data"),
    path(
        "access/<str:experiment_id>/data/delete/",
        deletion.delete_experiment_data,
        name="delete_experiment_data",
    ),
    path(
        "access/<str:experiment_id>/rooms/<str:room_id>/delete/",
        deletion.delete_room,
        name="delete_room",
    ),
    path(
        "access/<str:experiment_id>/participants/<str:participant_id>/delete/",
        deletion.delete_participant,
        name="delete_participant",
    ),
    path("lab/", lab.lab_access, name="lab_access"),
    path("lab/users/new/", lab.lab_user_create, name="lab_user_create"),
    path("lab/users/<int:user_id>/active/", lab.lab_user_active, name="lab_user_active"),
    path("lab/users/<int:user_id>/unlock/", lab.lab_user_unlock, name="lab_user_unlock"),
    path(
        "lab/users/<int:user_id>/password-reset/",
        lab.lab_user_password_reset,
        name="lab_user_password_reset",
    ),
    path("lab/keys/<int:key_id>/revoke/", lab.lab_key_revoke, name="lab_key_revoke"),
    path("set-password/<uidb64>/<token>/", lab.SetPasswordView.as_view(), name="set_password"),
    path("audit/", audit_log.audit_log, name="audit"),
    path("audit/export.csv", audit_log.audit_csv, name="audit_csv"),
    path("my-data/", my_data.my_data, name="my_data"),
    path("my-data/requests/", my_data.my_data_request, name="my_data_request"),
    path(
        "my-data/requests/<int:request_id>/export/", my_data.my_data_export, name="my_data_export"
    ),
]

from django.urls import include, path

from . import media, preferences, views

app_name = "data_browser"

# Participant URLs carry a public id for users who see identifiers and the participant's
# experiment code (anon_…) for everyone else; see views.participant_scope.
_exp = "e/<str:exp_id>/"
_room = _exp + "r/<str:room_id>/"
_participant = _room + "p/<str:ref>/"

urlpatterns = [
    path("", views.experiments, name="experiments"),
    path(_exp, views.experiment, name="experiment"),
    path(_exp + "data/", views.experiment_data, name="experiment_data"),
    path(_exp + "overview/", views.experiment_overview, name="experiment_overview"),
    path(_exp + "quality/", views.experiment_quality, name="experiment_quality"),
    path(_exp + "records/<str:tab>/<str:pk>/", views.record_detail, name="record_detail"),
    path(_room, views.room, name="room"),
    path(_room + "data/", views.room_data, name="room_data"),
    path(_room + "quality/", views.room_quality, name="room_quality"),
    path(_room + "plots/", views.room_plots, name="room_plots"),
    path(_participant, views.participant, name="participant"),
    path(_participant + "quality/", views.participant_quality, name="participant_quality"),
    path(_participant + "plots/", views.participant_plots, name="participant_plots"),
    path("preferences/", preferences.preferences, name="preferences"),
    path("media/<str:token>/", media.media_download, name="media"),
    path("keys/", include("data_browser.api.dashboard_urls")),
    path("", include("data_browser.governance.urls")),
]

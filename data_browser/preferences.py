"""What a reader sets once and the pages remember: the time zone of the times shown."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from . import formats
from .models import Profile


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Every time on the dashboard is shown in this zone and labelled with it. "
        "Exports and the API always use UTC (ISO 8601).",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(z, z) for z in formats.zone_names()]


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    profile, _ = Profile.objects.get_or_create(user=request.user)
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            profile.time_zone = form.cleaned_data["time_zone"]
            profile.save(update_fields=["time_zone"])
            messages.success(request, f"Times are now shown in {profile.time_zone}.")
            return redirect("data_browser:preferences")
    else:
        form = PreferencesForm(initial={"time_zone": formats.valid_zone(profile.time_zone)})
    return render(
        request,
        "preferences.html",
        {"form": form, "title": "Preferences", "crumbs": [("Preferences", "")]},
        status=400 if form.errors else 200,
    )

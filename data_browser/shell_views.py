"""Placeholder pages for sidebar entries whose feature lands in a later change."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def pending(request: HttpRequest, title: str = "") -> HttpResponse:
    return render(request, "pending.html", {"title": title})

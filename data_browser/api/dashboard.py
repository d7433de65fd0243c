"""Dashboard pages of the API: API Keys (create, list, revoke) and the API docs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from data_browser import access
from data_browser import datatypes as T

from . import keys
from .auth import usage_today
from .forms import ApiKeyForm
from .schemas import DataParams


def _rows(request: HttpRequest) -> list[dict]:
    return [
        {
            "key": k,
            "status": keys.status(k),
            "requests_today": usage_today(k),
            "reach": keys.reach(k),
            "own": k.user_id == request.user.pk,
        }
        for k in keys.visible_keys(request.user)
    ]


def _page(request: HttpRequest, form: ApiKeyForm, *, created=None, raw=None, status=200):
    context = {
        "title": "API Keys",
        "nav_section": "keys",
        "form": form,
        "rows": _rows(request),
        "created": created,
        "raw_key": raw,
        "may_have_keys": keys.may_have_keys(request.user),
        "is_lab_admin": access.is_lab_admin(request.user),
    }
    template = "keys/_table.html" if request.htmx and request.method == "GET" else "keys/keys.html"
    return render(request, template, context, status=status)


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """The list, and the form that creates a key; the new key is shown on this answer only."""
    if request.method != "POST":
        return _page(request, ApiKeyForm(user=request.user))
    form = ApiKeyForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            created, raw = keys.create_key(
                request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.expires_at,
                experiments=form.cleaned_data["experiments"],
                request=request,
            )
        except keys.InvalidKeyRequest as exc:
            form.add_error(None, str(exc))
        else:
            return _page(request, ApiKeyForm(user=request.user), created=created, raw=raw)
    return _page(request, form, status=400)


@login_required
@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = keys.get_key(request.user, pk)
    if keys.revoke_key(key, request.user, request=request):
        messages.success(request, f"Key “{key.name}” ({key.prefix}…{key.last_four}) is revoked.")
    if request.htmx:
        return render(
            request,
            "keys/_table.html",
            {"rows": _rows(request), "is_lab_admin": access.is_lab_admin(request.user)},
        )
    return redirect("data_browser:api_keys")


@login_required
def api_docs(request: HttpRequest) -> HttpResponse:
    base = request.build_absolute_uri("/api/v3").rstrip("/")
    parameters = [
        (name, field.description or "") for name, field in DataParams.model_fields.items()
    ]
    context = {
        "title": "API documentation",
        "nav_section": "api_docs",
        "base": base,
        "openapi_url": request.build_absolute_uri(reverse("api_v3:openapi-json")),
        "data_types": T.DATA_TYPES,
        "parameters": parameters,
        "scopes": T.ALL_SCOPES,
        "room": access.for_request(request).rooms().order_by("-started_at").first(),
    }
    return render(request, "api/docs.html", context)

"""Dashboard pages of the API: the API key manager (create, list, details, edit, revoke)
and the API docs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_POST

from data_browser import access
from data_browser import datatypes as T
from data_browser.signals import running_work
from hyperstudy_dash.confirm import Confirmation, confirmation_page, confirmed
from hyperstudy_dash.htmx import render_page

from . import keys
from .auth import request_count, usage_today
from .forms import ApiKeyForm, KeyDetailsForm
from .schemas import DataParams

NEW_KEY_SESSION = "api_keys.new_key"


def _rows(request: HttpRequest) -> list[dict]:
    return [
        {
            "key": k,
            "masked": keys.masked(k),
            "status": keys.status(k),
            "requests_today": usage_today(k),
            "reach": keys.reach(k),
            "own": k.user_id == request.user.pk,
        }
        for k in keys.visible_keys(request.user)
    ]


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/api/v3").rstrip("/")


def _new_key(request: HttpRequest) -> dict | None:
    """The key created just before this page, once: it leaves the session as it is shown."""
    shown = request.session.pop(NEW_KEY_SESSION, None)
    if not shown:
        return None
    key = keys.visible_keys(request.user).filter(pk=shown["pk"]).first()
    if key is None:
        return None
    base = _base_url(request)
    env = f"HYPERSTUDY_API_KEY={shown['raw']}\nHYPERSTUDY_BASE_URL={base}\n"
    return {"key": key, "raw": shown["raw"], "env": env}


def _page(request: HttpRequest, form: ApiKeyForm, *, status: int = 200) -> HttpResponse:
    context = {
        "title": "API Keys",
        "nav_section": "keys",
        "form": form,
        "rows": _rows(request),
        "new": _new_key(request) if request.method == "GET" else None,
        "may_have_keys": keys.may_have_keys(request.user),
        "is_lab_admin": access.is_lab_admin(request.user),
    }
    return render_page(request, "keys/keys.html", context, status=status)


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """The list, and the form that creates a key. After a POST that creates one, the answer
    is a redirect (a reload never makes a second key); the page it leads to shows the new
    key once."""
    if request.method != "POST":
        return _page(request, ApiKeyForm(user=request.user))
    form = ApiKeyForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            created, raw = keys.create_key(
                request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.expires_at,
                experiments=form.cleaned_data["experiments"],
                request=request,
            )
        except keys.InvalidKeyRequest as exc:
            form.add_error(None, str(exc))
        else:
            request.session[NEW_KEY_SESSION] = {"pk": created.pk, "raw": raw}
            return redirect(f"{reverse('data_browser:api_keys')}#new-key")
    return _page(request, form, status=400)


def _examples(base: str, room: str) -> list[tuple[str, str]]:
    """Code examples for the details page, with this server's address; the key itself is
    read from the environment (it is never shown again)."""
    url = f"{base}/data/events/room/{room}"
    return [
        ("curl", f'curl -H "X-API-Key: $HYPERSTUDY_API_KEY" \\\n     "{url}?limit=10"'),
        (
            "Python",
            "import os\nimport requests\n\n"
            "API_KEY = os.environ.get('HYPERSTUDY_API_KEY')\n"
            f"response = requests.get(\n    '{url}',\n    headers={{'X-API-Key': API_KEY}},\n"
            "    params={'limit': 10},\n)\nprint(response.json()['data'])",
        ),
        (
            "JavaScript",
            "const API_KEY = process.env.HYPERSTUDY_API_KEY;\n"
            f"const response = await fetch('{url}?limit=10', {{\n"
            "  headers: { 'X-API-Key': API_KEY },\n});\n"
            "const result = await response.json();\nconsole.log(result.data);",
        ),
        (
            "R",
            'library(httr)\nAPI_KEY <- Sys.getenv("HYPERSTUDY_API_KEY")\n'
            f'response <- GET(\n  "{url}?limit=10",\n  add_headers("X-API-Key" = API_KEY)\n)\n'
            'data <- content(response, as = "parsed")',
        ),
    ]


def example_room(request: HttpRequest) -> str | None:
    """The reader's latest room for code examples, named as the reader names it (its code
    for a reader who sees codes: an example is an output like any other)."""
    reader = access.for_request(request)
    room = reader.rooms().select_related("experiment").order_by("-started_at").first()
    return reader.room_ref(room.experiment, room.public_id) if room is not None else None


@login_required
def key_detail(request: HttpRequest, pk: int) -> HttpResponse:
    key = keys.get_key(request.user, pk)
    context = {
        "title": f"API key {key.name}",
        "nav_section": "keys",
        "key": key,
        "masked": keys.masked(key),
        "status": keys.status(key),
        "request_count": request_count(key),
        "requests_today": usage_today(key),
        "reach": keys.reach(key),
        "own": key.user_id == request.user.pk,
        "examples": _examples(_base_url(request), example_room(request) or "YOUR_ROOM_ID"),
    }
    return render(request, "keys/detail.html", context)


@login_required
def key_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Name, description and scopes of one's own key; never the key or its expiry."""
    key = keys.get_key(request.user, pk)
    if key.user_id != request.user.pk or key.revoked_at is not None:
        raise Http404("No such API key")
    initial = {"name": key.name, "description": key.description, "scopes": key.scopes}
    form = KeyDetailsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            keys.update_key(
                key,
                request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                scopes=form.cleaned_data["scopes"],
                request=request,
            )
        except keys.InvalidKeyRequest as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Key “{key.name}” is saved.")
            return redirect("data_browser:api_key_detail", pk=key.pk)
    status = 400 if request.method == "POST" else 200
    context = {"title": f"Edit {key.name}", "nav_section": "keys", "key": key, "form": form}
    return render(request, "keys/edit.html", context, status=status)


def revocation(key, *, back: str, action: str, fields: dict | None = None) -> Confirmation:
    """What revoking a key takes away, counted (the owner's key page and the lab page)."""
    running = running_work(key=key)
    made = request_count(key)
    return Confirmation(
        heading=f"Revoke the API key “{key.name}”?",
        rows=[
            (f"API key {keys.masked(key)} of {key.user.get_username()}", 1),
            ("Experiments it reads now", len(keys.reach(key))),
            ("Exports started with it, still running (they end, denied)", running),
        ],
        back=back,
        action=action,
        fields=fields or {},
        label="Revoke permanently",
        intro="Revoking is permanent: a revoked key cannot be restored (create a new one).",
        lines=[
            "Every script that uses it is refused (401) from its next request on.",
            f"It has made {made:,} request{pluralize(made)} so far.",
        ],
    )


@login_required
@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """The first POST shows what revoking takes away; the confirmation's POST revokes."""
    key = keys.get_key(request.user, pk)
    detail = request.POST.get("next") == "detail"
    back = reverse("data_browser:api_key_detail", args=[pk]) if detail else None
    back = back or reverse("data_browser:api_keys")
    if key.revoked_at is not None:
        messages.info(request, f"Key “{key.name}” was revoked already.")
        return redirect(back)
    if not confirmed(request):
        confirm = revocation(
            key,
            back=back,
            action=reverse("data_browser:api_key_revoke", args=[key.pk]),
            fields={"next": "detail"} if detail else {},
        )
        crumbs = [("API Keys", reverse("data_browser:api_keys")), (f"Revoke {key.name}", "")]
        return confirmation_page(
            request, confirm, title=f"Revoke {key.name}", nav_section="keys", crumbs=crumbs
        )
    if keys.revoke_key(key, request.user, request=request):
        messages.success(request, f"Key “{key.name}” ({keys.masked(key)}) is revoked.")
    return redirect(back)


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
        "scopes": T.KEY_SCOPES,
        "room": example_room(request),
    }
    return render(request, "api/docs.html", context)

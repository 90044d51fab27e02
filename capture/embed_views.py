"""The embeds' public endpoints: /f/embed.js, /f/<id>/config, /f/<id>/frame, /f/<id>/event.

No session, no cookies: a host page on another origin calls these with ``credentials: "omit"``.
CORS is granted per form to its allowed origins only (and LeadFlow's own origin, which needs no
header); a refused origin gets a 403 JSON without any CORS header, so its script cannot read it.
"""

import hashlib
import json
import math
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from capture import challenge
from capture.embed_forms import frame_form_class, hidden_initial
from capture.embed_selectors import form_config
from capture.embed_services import EventKind, form_day_count
from capture.models import Form
from capture.selectors import current_consents, fields_for_visitor, live_form
from leadflow import ratelimit
from leadflow.client_ip import client_ip

EMBED_JS = "capture/embed.js"
MAX_EVENT_BYTES = 1024


# --- CORS -------------------------------------------------------------------------------------


def _own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _granted_origin(request: HttpRequest, form: Form) -> tuple[bool, str | None]:
    """(allowed, the origin to echo in Access-Control-Allow-Origin or None)."""
    origin = request.headers.get("Origin", "").rstrip("/")
    if not origin:
        return True, None  # not a cross-origin browser call (a same-origin GET, a server)
    if origin == _own_origin(request):
        return True, None
    if origin.lower() in {o.lower() for o in form.origins()}:  # hosts are case-blind
        return True, origin
    return False, None


def _with_cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
    patch_vary_headers(response, ("Origin",))
    response["Cache-Control"] = "no-store"
    return response


def _error(status: int, code: str, message: str, **extra: object) -> JsonResponse:
    return JsonResponse({"ok": False, "code": code, "message": message, **extra}, status=status)


def _not_found() -> HttpResponse:
    # readable by any page (nothing to hide about a form that is not live), so the script can
    # tell the visitor instead of failing silently
    response = _error(404, "not_found", gettext("This form is not available."))
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-store"
    return response


def _refused(request: HttpRequest) -> HttpResponse:
    return _with_cors(
        _error(
            403,
            "origin_not_allowed",
            gettext("This form may not be shown on %(origin)s.")
            % {"origin": request.headers.get("Origin", "")[:200]},
        ),
        None,
    )


def _preflight(request: HttpRequest, form: Form, methods: str) -> HttpResponse:
    allowed, origin = _granted_origin(request, form)
    if not allowed:
        return _refused(request)
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = methods
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "86400"
    return _with_cors(response, origin)


# --- /f/embed.js ---------------------------------------------------------------------------------


@cache
def _read_static(path: str, mtime: float) -> tuple[bytes, str]:
    body = Path(path).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _embed_js_file() -> str:
    # the source file (static/ ships in the image); collectstatic's copy when only that exists
    found = finders.find(EMBED_JS)
    if isinstance(found, str):
        return found
    return str(staticfiles_storage.path(EMBED_JS))


@require_http_methods(["GET", "HEAD"])
def embed_js(request: HttpRequest) -> HttpResponse:
    """The embed script at a stable address a host page can paste once.

    Served by this view, not a redirect to the hashed static name: one request per page view
    instead of two, and no dependency on the manifest at the host's side. Hosts revalidate it
    hourly with the ETag (a 304 costs nothing); the files it loads (embed.css) are the hashed,
    immutable static names, given by the config response.
    """
    path = _embed_js_file()
    body, etag = _read_static(path, Path(path).stat().st_mtime)
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["ETag"] = etag
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=3600, stale-while-revalidate=86400"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# --- /f/<id>/config --------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def config(request: HttpRequest, public_id: str) -> HttpResponse:
    form = live_form(public_id)
    if form is None:
        return _not_found()
    if request.method == "OPTIONS":
        return _preflight(request, form, "GET, OPTIONS")
    allowed, origin = _granted_origin(request, form)
    if not allowed:
        return _refused(request)
    anonymous_id = request.GET.get("anonymous_id", "")[:200]
    return _with_cors(
        JsonResponse(form_config(request=request, form=form, anonymous_id=anonymous_id)), origin
    )


# --- /f/<id>/event ---------------------------------------------------------------------------------


def _event_limit() -> tuple[int, int]:
    return (
        int(getattr(settings, "LEADFLOW_CAPTURE_EVENT_RATE_LIMIT", 120)),
        int(getattr(settings, "LEADFLOW_CAPTURE_EVENT_RATE_WINDOW", 60)),
    )


@csrf_exempt  # no cookie is read or trusted here: a cross-origin fetch without credentials
@require_http_methods(["POST", "OPTIONS"])
def event(request: HttpRequest, public_id: str) -> HttpResponse:
    form = live_form(public_id)
    if form is None:
        return _not_found()
    if request.method == "OPTIONS":
        return _preflight(request, form, "POST, OPTIONS")
    allowed, origin = _granted_origin(request, form)
    if not allowed:
        return _refused(request)
    limit, window = _event_limit()
    wait = ratelimit.hit(f"capture:event:{client_ip(request) or '-'}", limit=limit, window=window)
    if wait is not None:
        response = _error(
            429, "rate_limited", gettext("Too many requests. Please wait and try again.")
        )
        response["Retry-After"] = str(math.ceil(wait))
        return _with_cors(response, origin)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_EVENT_BYTES or len(request.body) > MAX_EVENT_BYTES:  # header first: no read
        return _with_cors(_error(413, "too_large", gettext("The request is too large.")), origin)
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        return _with_cors(
            _error(
                400,
                "invalid",
                gettext("The body must be a JSON object."),
                errors={"body": [gettext('Send a JSON object such as {"kind": "view"}.')]},
            ),
            origin,
        )
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in {k.value for k in EventKind}:
        return _with_cors(
            _error(
                400,
                "invalid",
                gettext("Unknown event kind."),
                errors={"kind": [gettext('Must be "view" or "start".')]},
            ),
            origin,
        )
    form_day_count(form_id=form.pk, kind=EventKind(kind))
    return _with_cors(HttpResponse(status=204), origin)


# --- /f/<id>/frame ---------------------------------------------------------------------------------


def _submit_url(public_id: str) -> str:
    try:
        return reverse("capture_public:submit", args=[public_id])
    except NoReverseMatch:  # capture-core's route, merged separately
        return f"/f/{public_id}/submit"


def _frame_policy(form: Form | None) -> dict[str, list[str]]:
    """frame-ancestors: the form's allowed origins (and LeadFlow itself, for the builder's
    preview); form-action: LeadFlow, and the redirect's origin (a 303 there is a form action)."""
    ancestors = ["'self'", *(form.origins() if form else [])]
    actions = ["'self'"]
    if form and form.redirect_url:
        parts = urlsplit(form.redirect_url)
        actions.append(f"{parts.scheme}://{parts.netloc}")
    return {"frame-ancestors": ancestors, "form-action": actions}


@xframe_options_exempt  # framing is governed by the CSP frame-ancestors set below instead
@require_http_methods(["GET", "HEAD"])
def frame(request: HttpRequest, public_id: str) -> HttpResponse:
    form = live_form(public_id)
    if form is None:
        any_form = Form.objects.filter(public_id=public_id).first()
        response = render(request, "capture/public/frame_unavailable.html", status=404)
        response._csp_replace = _frame_policy(any_form)  # type: ignore[attr-defined]
        return response
    return frame_response(request, form)


def _issued_at(form: Form, filled_already: bool) -> float | None:
    """A plain HTML post shown again was filled in on the host page: its fill time is spent,
    so its fresh challenge counts from before (the proof of work is still required)."""
    return time.time() - form.min_fill_seconds if filled_already else None


def frame_response(
    request: HttpRequest,
    form: Form,
    *,
    data: Mapping[str, str] | None = None,
    errors: Mapping[str, list[str]] | None = None,
    status: int = 200,
    fresh_challenge: bool = False,
    filled_already: bool = False,
) -> HttpResponse:
    """The iframe page for ``form``: empty (GET), or — for capture-core's form-encoded submit
    answering 400 — bound to what was sent (``data``, e.g. ``request.POST``) with ``errors``
    (field name or ``consent.<key>`` → messages; other keys show above the form), a fresh
    challenge only if ``fresh_challenge`` (else the token sent is kept: its age is the fill
    time, a new one would make a quick correction "too fast"), and the same headers (frame-ancestors, no X-Frame-Options: decorate that view
    with ``xframe_options_exempt`` too)."""
    source: Mapping[str, str] = data if data is not None else request.GET
    params = {k: str(source.get(k, ""))[:2000] for k in source}
    referer = request.headers.get("Referer", "")[:2000]
    anonymous_id = params.get("lf_anonymous_id") or params.get("anonymous_id", "")
    fields = fields_for_visitor(form, anonymous_id[:200])
    form_class = frame_form_class(fields, current_consents(form))
    if data is None:
        django_form = form_class(
            initial=hidden_initial(fields, params=params, page_url=referer, referrer="")
        )
    else:
        django_form = form_class(data=data)
        django_form.full_clean()
        for name, messages in (errors or {}).items():
            for message in messages:
                django_form.add_error(name if name in django_form.fields else None, message)
    given = {"token": params.get("lf_token", ""), "difficulty": challenge.difficulty()}
    response = render(
        request,
        "capture/public/frame.html",
        {
            "capture_form": form,
            "form": django_form,
            "challenge": given
            if given["token"] and not fresh_challenge
            else challenge.issue(form.public_id, now=_issued_at(form, filled_already)),
            "submit_url": _submit_url(form.public_id),
            "event_url": reverse("capture_public:event", args=[form.public_id]),
            "page_url": params.get("lf_page") or params.get("page_url", referer),
            "referrer": params.get("lf_referrer") or params.get("referrer", ""),
            "anonymous_id": anonymous_id,
        },
        status=status,
    )
    response._csp_replace = _frame_policy(form)  # type: ignore[attr-defined]
    response["Cache-Control"] = "no-store"  # the challenge inside is issued per showing
    return response

"""LeadFlow as the destination of the real browser SDKs (issue 19): CORS and the Origin check
of ``/v1/*``, and the settings the SDKs fetch before they send anything.

- ``@segment/analytics-next`` (standalone build, vendored in ``static/vendor/analytics-next``)
  reads ``<window.analytics._cdn>/v1/projects/<key>/settings`` (a simple GET, no header), loads
  its chunks from ``<_cdn>/analytics-next/bundles/<chunk>`` and sends each call to
  ``<protocol>://<apiHost>/<t|p|i|g|a|s>`` as ``text/plain`` JSON with the key as HTTP Basic
  user (so the browser preflights it).
- ``@rudderstack/analytics-js`` v3 reads ``<configUrl>/sourceConfig/?p=…&v=…&writeKey=…``
  (GET with Basic auth: preflighted) and sends to ``<dataPlaneUrl>/v1/<type>`` as JSON.

CORS. A preflight carries no key, so it is answered for any origin, for the methods and
headers the SDKs use: it lets the browser *send*, nothing more. The real response names the
origin in ``Access-Control-Allow-Origin`` only when the key lists it (``ApiKey.allowed_origins``)
or the page is LeadFlow's own; a public key that lists origins refuses any other origin
server-side too (403 ``origin_not_allowed``, nothing stored), so a page elsewhere can neither
write nor read. django-cors-headers was not used: its allow-list is per site, not per key, and
the key is known only after authentication, inside the view.
"""

from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from leadflow.api.auth import key_from_headers, request_api_key
from leadflow.apikeys import Scope, api_key_lookup, key_origins
from leadflow.models import ApiKey

PREFLIGHT_METHODS = "GET, HEAD, POST, OPTIONS"
# what the two SDKs send: analytics-next (Authorization, Content-Type text/plain, X-Retry-Count),
# RudderStack v3's XhrQueue (Authorization, Accept, Content-Type application/json, SentAt and on
# retries its Rsa-* headers); Content-Encoding for gzip clients
PREFLIGHT_HEADERS = ", ".join(
    (
        "Authorization",
        "Content-Type",
        "Content-Encoding",
        "Accept",
        "X-Retry-Count",
        "AnonymousId",
        "SentAt",
        "Rsa-Recovered",
        "Rsa-Retry-Attempt",
        "Rsa-Retry-Reason",
        "Rsa-Since-First-Attempt",
        "Rsa-Since-Last-Attempt",
    )
)
PREFLIGHT_MAX_AGE = "600"
ANALYTICS_NEXT_BUNDLES = "vendor/analytics-next/bundles/"


def request_origin(request: HttpRequest) -> str | None:
    origin = request.META.get("HTTP_ORIGIN", "").strip()
    return origin.rstrip("/").lower() or None


def own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}".lower()


def origin_allowed(key: ApiKey, origin: str, request: HttpRequest) -> bool:
    """Whether a page on ``origin`` may send with (and read replies to) ``key``."""
    return key.kind == ApiKey.Kind.PUBLIC and (
        origin in key_origins(key) or origin == own_origin(request)
    )


def check_origin(key: ApiKey, request: HttpRequest) -> None:
    """403 ``origin_not_allowed`` for a browser (Origin header) on a site a public key does not
    list — when it lists any. (A key that lists none gets no CORS answer: a page cannot read
    the reply, and docs/capture.md says to list the site.)"""
    origin = request_origin(request)
    if origin is None or key.kind != ApiKey.Kind.PUBLIC or not key_origins(key):
        return
    if not origin_allowed(key, origin, request):
        raise PermissionDenied(
            _(
                "This key does not allow pages on %(origin)s; add the origin to the key's "
                "allowed origins (Settings › API keys)."
            )
            % {"origin": origin[:200]},
            code="origin_not_allowed",
        )


def add_cors(response: HttpResponse, request: HttpRequest, key: ApiKey | None) -> HttpResponse:
    """Name the page's origin in the reply when ``key`` allows it (see the module docstring)."""
    origin = request_origin(request)
    if origin is not None:
        patch_vary_headers(response, ["Origin"])
        if key is not None and origin_allowed(key, origin, request):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    return response


def preflight(request: HttpRequest) -> HttpResponse:
    """204 for a CORS preflight of the SDKs' requests (no key in it: see the docstring)."""
    response = HttpResponse(status=204)
    origin = request_origin(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = PREFLIGHT_METHODS
        response.headers["Access-Control-Allow-Headers"] = PREFLIGHT_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        response.headers["Vary"] = "Origin"
    response.headers["Allow"] = PREFLIGHT_METHODS
    return response


class BrowserCorsMixin:
    """For the ``/v1/*`` APIViews: preflight without authentication, the Origin check right
    after it, and the CORS headers on every reply (errors included)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "OPTIONS":
            return  # a preflight: no key, no permission, no throttle to check
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        key = request_api_key(request)
        if key is not None:
            check_origin(key, request)

    def options(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return preflight(request)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        auth = getattr(request, "_auth", None)  # never authenticate here (a preflight)
        add_cors(response, request, auth if isinstance(auth, ApiKey) else None)
        return response


def _public_key(raw: str | None) -> ApiKey | None:
    """The active public key with ``events:write`` that ``raw`` names, or None."""
    key = api_key_lookup(raw) if raw else None
    if key is None or key.kind != ApiKey.Kind.PUBLIC or Scope.EVENTS_WRITE not in key.scopes:
        return None
    return key


def _not_found(request: HttpRequest) -> HttpResponse:
    # one answer for unknown, revoked and secret keys: nothing to learn from it
    body = {"code": "not_found", "message": _("There is no such source.")}
    return add_cors(JsonResponse({"error": body, **body}, status=404), request, None)


def _settings_response(request: HttpRequest, key: ApiKey, payload: dict[str, Any]) -> HttpResponse:
    try:
        check_origin(key, request)
    except PermissionDenied as exc:
        body = {"code": "origin_not_allowed", "message": str(exc.detail)}
        return add_cors(JsonResponse({"error": body, **body}, status=403), request, None)
    response = JsonResponse(payload)
    response.headers["Cache-Control"] = "private, max-age=60"
    return add_cors(response, request, key)


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def segment_settings(request: HttpRequest, write_key: str) -> HttpResponse:
    """``GET /v1/projects/<key>/settings``: what analytics-next configures itself from — the
    Segment.io integration only, pointed at this LeadFlow; no other destination, no plan, no
    edge function, no remote metrics (``sampleRate`` 0)."""
    if request.method == "OPTIONS":
        return preflight(request)
    key = _public_key(write_key)
    if key is None:
        return _not_found(request)
    host = request.get_host()
    segmentio: dict[str, Any] = {
        "apiKey": write_key,
        "apiHost": f"{host}/v1",
        "protocol": request.scheme,
        "addBundledMetadata": False,
        "unbundledIntegrations": [],
        "maybeBundledConfigIds": {},
    }
    payload = {
        "integrations": {"Segment.io": segmentio},
        "plan": {},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }
    return _settings_response(request, key, payload)


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def rudderstack_source_config(request: HttpRequest) -> HttpResponse:
    """``GET /v1/sourceConfig/?writeKey=…`` (and HTTP Basic): RudderStack v3's source config —
    enabled, no device-mode destination (nothing for the SDK to load), error and metrics
    collection off (they would post to the data plane's ``/rsaMetrics``)."""
    if request.method == "OPTIONS":
        return preflight(request)
    try:
        raw = key_from_headers(request) or request.GET.get("writeKey")
    except AuthenticationFailed:
        raw = None
    key = _public_key(raw)
    if key is None:
        return _not_found(request)
    payload = {
        "isHosted": True,
        "source": {
            "id": key.prefix,
            "name": "LeadFlow",
            "writeKey": raw,
            "enabled": True,
            "workspaceId": "leadflow",
            "config": {
                "statsCollection": {"errors": {"enabled": False}, "metrics": {"enabled": False}}
            },
            "destinations": [],
        },
    }
    return _settings_response(request, key, payload)


@cache
def analytics_next_chunks() -> frozenset[str]:
    folder = settings.BASE_DIR / "static" / ANALYTICS_NEXT_BUNDLES
    return frozenset(p.name for p in folder.glob("*.js")) if folder.is_dir() else frozenset()


@require_http_methods(["GET", "HEAD"])
def analytics_next_chunk(request: HttpRequest, name: str) -> HttpResponse:
    """``/analytics-next/bundles/<chunk>``: analytics-next's standalone build loads its chunks
    from ``<_cdn>/analytics-next/bundles/`` (its webpack public path); the vendored copy is a
    static file, whose URL (hashed in production) this redirects to."""
    if name not in analytics_next_chunks():
        return HttpResponse(status=404)
    response = HttpResponseRedirect(staticfiles_storage.url(ANALYTICS_NEXT_BUNDLES + name))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from leadflow.apikeys import Scope, api_key_lookup
from leadflow.exceptions import PermissionDeniedError
from leadflow.models import ApiKey, User


def request_user(request: Request | HttpRequest) -> User:
    """The authenticated user of a request (views are behind IsAuthenticated/login_required)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDeniedError(_("Log in first."))
    return user


def request_api_key(request: Request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


def key_from_headers(request: HttpRequest) -> str | None:
    """``Authorization: Bearer <key>`` or HTTP Basic with the key as user name (Segment's way)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return str(value)
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationFailed(_("The Basic credentials are not valid base64.")) from None
        return decoded.partition(":")[0] or None
    return None


@dataclass(frozen=True)
class ReadWrite:
    """``required_scopes`` for an endpoint group: safe methods (GET/HEAD/OPTIONS) need ``read``,
    every other method ``write``. None: keys may not do that at all."""

    read: Scope | None
    write: Scope | None = None


def required_scope(view: Any, request: Request) -> str | None:
    """The scope ``view`` needs for this request. ``required_scopes`` is a ``ReadWrite`` or a dict
    from actions (viewsets) or lower-case methods (views) to scopes. None: not open to keys."""
    scopes: ReadWrite | dict[str, str] | None = getattr(view, "required_scopes", None)
    if isinstance(scopes, ReadWrite):
        needed = scopes.read if request.method in SAFE_METHODS else scopes.write
        return needed.value if needed is not None else None
    if not scopes:
        return None
    action = getattr(view, "action", None) or (request.method or "").lower()
    if action == "options" or request.method in ("HEAD", "OPTIONS"):
        action = "list" if "list" in scopes else "get"
    return scopes.get(action)


def check_scope(key: ApiKey, view: Any, request: Request) -> None:
    if key.kind == ApiKey.Kind.PUBLIC and not getattr(view, "public_keys", False):
        # a public key is in page source: it only sends events (views marked ``public_keys``)
        raise PermissionDenied(
            "A public key may only send events to /v1/* (the Segment-compatible endpoints); "
            "use a secret key for this endpoint.",
            code="public_key_not_allowed",
        )
    needed = required_scope(view, request)
    if needed is None:
        raise PermissionDenied("API keys cannot use this endpoint.", code="insufficient_scope")
    if needed not in key.scopes:
        raise PermissionDenied(
            _("This API key lacks the %(scope)s scope.") % {"scope": needed},
            code="insufficient_scope",
        )


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates ``Authorization: Bearer lf_...`` (or Basic with the key as user name).

    A key authenticates only for endpoints whose ``required_scopes`` it holds, so every endpoint
    (of any app) refuses a key without the right scope, and endpoints that declare no scopes
    refuse keys altogether. First in the list so that anonymous requests get 401.
    """

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        raw = key_from_headers(request._request)
        if raw is None:
            return None
        key = api_key_lookup(raw)
        if key is None:
            raise AuthenticationFailed(_("Unknown or revoked API key."), code="invalid_api_key")
        view = (getattr(request, "parser_context", None) or {}).get("view")
        check_scope(key, view, request)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="leadflow"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """OpenAPI: keys go in ``Authorization: Bearer lf_...`` (Basic with the key also works)."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (lf_...). Create one with `manage.py create_api_key`.",
        }

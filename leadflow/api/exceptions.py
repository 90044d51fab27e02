"""One error shape for the whole API: {"error": {"code", "message", "field"?, "fields"?,
"in_use"?}}; leadflow/api/schema.py documents it on every operation."""

from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, ProtectedError, RestrictedError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from leadflow.exceptions import DomainError


def in_use(rows: Iterable[Model]) -> list[dict[str, Any]]:
    """What still uses a row, counted per model: [{"model", "name", "count"}]."""
    counts = Counter(type(row) for row in rows)
    return [
        {
            "model": m._meta.label_lower,
            "name": str(m._meta.verbose_name if n == 1 else m._meta.verbose_name_plural),
            "count": n,
        }
        for m, n in sorted(counts.items(), key=lambda item: item[0]._meta.label_lower)
    ]


def in_use_response(exc: ProtectedError | RestrictedError) -> Response:
    """A DELETE of a row that others still point at (on_delete PROTECT/RESTRICT): 409 naming
    them. The collector refuses before deleting anything, so nothing is half-deleted."""
    rows = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
    users = in_use(rows)
    names = ", ".join(f"{u['count']} {u['name']}" for u in users)
    body = {
        "code": "in_use",
        "message": _("Still in use by %(names)s.") % {"names": names},
        "in_use": users,
    }
    return Response({"error": body}, status=status.HTTP_409_CONFLICT)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ProtectedError | RestrictedError):
        return in_use_response(exc)
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.field:
            body["field"] = exc.field
        body.update(exc.extra)
        return Response({"error": body}, status=exc.status)
    if isinstance(exc, DjangoValidationError):  # raised by services: same shape as DRF's
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = ValidationError(detail)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        response.data = {
            "error": {
                "code": "invalid",
                "message": _("The request has invalid fields."),
                "fields": response.data,
            }
        }
    elif isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(response.data["detail"], "code", "error")
        response.data = {"error": {"code": str(code), "message": str(response.data["detail"])}}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and "Retry-After" not in response:
        response["Retry-After"] = "1"
    return response


@csrf_exempt  # it changes nothing, so a POST without a token gets the 404 too, not a CSRF page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    body = {
        "code": "not_found",
        "message": _("There is nothing at %(path)s.") % {"path": request.path},
    }
    return JsonResponse({"error": body}, status=404)

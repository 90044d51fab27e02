"""One error shape for the whole API: {"error": {"code", "message", "field"?, "fields"?}}."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from leadflow.exceptions import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.field:
            body["field"] = exc.field
        body.update(exc.extra)
        return Response({"error": body}, status=exc.status)
    if isinstance(exc, ProtectedError | RestrictedError):  # a DELETE of a row still referred to
        users = sorted({str(obj) for obj in exc.args[1]})
        message = (
            f"Still in use by {len(users)} other record(s), e.g. {users[0]}; remove those first."
        )
        return Response({"error": {"code": "in_use", "message": message}}, status=409)
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
                "message": "The request has invalid fields.",
                "fields": response.data,
            }
        }
    elif isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(response.data["detail"], "code", "error")
        response.data = {"error": {"code": str(code), "message": str(response.data["detail"])}}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and "Retry-After" not in response:
        response["Retry-After"] = "1"
    return response

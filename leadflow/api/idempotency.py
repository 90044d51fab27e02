"""``Idempotency-Key`` on POSTs that create or transition, with Stripe's semantics.

- The first response (any status below 500) is stored and replayed byte-for-byte, with
  ``Idempotent-Replayed: true``, for the next ``LEADFLOW_IDEMPOTENCY_TTL_HOURS`` (24 h).
- The same key with a different body (method, path and raw bytes hashed) → 422
  ``idempotency_key_reused``.
- A duplicate that arrives while the first is still running → 409 ``idempotency_key_in_use``.
- Keys are scoped per API key (per user for session requests).
- A 5xx or an exception releases the key, so the client may retry.

The claim is a committed INSERT on a unique (owner, key) constraint before the view runs, so
concurrent duplicates on any number of web processes see it.
"""

import hashlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

from leadflow.models import ApiKey, IdempotencyRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
STALE_CLAIM = timedelta(minutes=5)  # a claim older than this (crashed process) may be retaken


class IdempotencyKeyInUseError(APIException):
    status_code = 409
    default_code = "idempotency_key_in_use"
    default_detail = "A request with this Idempotency-Key is still being processed; retry later."


class IdempotencyKeyReusedError(APIException):
    status_code = 422
    default_code = "idempotency_key_reused"
    default_detail = gettext_lazy("This Idempotency-Key was used with a different request.")


class _Replay(Exception):  # noqa: N818  (control flow, never escapes the view)
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def owner_of(request: Request) -> str:
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.pk}"
    return f"user:{request.user.pk}"


def request_fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in ((request.method or "").encode(), request.path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.body), status=record.status_code, content_type=record.content_type
    )
    response["Idempotent-Replayed"] = "true"
    return response


def claim(*, owner: str, key: str, fingerprint: str, request: Request) -> IdempotencyRecord:
    """Claim ``key`` for this request; raises _Replay, 409 or 422 if it was seen before."""
    now = timezone.now()
    ttl = timedelta(hours=settings.LEADFLOW_IDEMPOTENCY_TTL_HOURS)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    owner=owner,
                    key=key,
                    request_hash=fingerprint,
                    method=request.method or "",
                    path=request.path[:500],
                    created_at=now,
                )
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
        if existing is None:  # released or purged in between: claim again
            continue
        if existing.created_at < now - ttl:  # expired but not purged yet: start afresh
            IdempotencyRecord.objects.filter(
                pk=existing.pk, created_at=existing.created_at
            ).delete()
            continue
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReusedError()
        if existing.status_code is not None:
            raise _Replay(replay(existing))
        if existing.created_at < now - STALE_CLAIM:
            IdempotencyRecord.objects.filter(pk=existing.pk, status_code__isnull=True).delete()
            continue
        raise IdempotencyKeyInUseError()
    raise IdempotencyKeyInUseError()


class IdempotentMixin(APIView):
    """For DRF views: POSTs to ``idempotent_actions`` honour the ``Idempotency-Key`` header."""

    idempotent_actions: frozenset[str] = frozenset()
    _idempotency_record: IdempotencyRecord | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self._idempotency_record = None
        key = request.headers.get(IDEMPOTENCY_HEADER)
        body = request._request.body if key is not None else b""  # before parsing reads it
        super().initial(request, *args, **kwargs)  # auth, permissions, throttles
        action = getattr(self, "action", None) or (request.method or "").lower()
        if key is None or request.method != "POST" or action not in self.idempotent_actions:
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValidationError(
                {
                    IDEMPOTENCY_HEADER: _("Must be 1 to %(max)s characters.")
                    % {"max": MAX_KEY_LENGTH}
                }
            )
        self._idempotency_record = claim(
            owner=owner_of(request),
            key=key,
            fingerprint=request_fingerprint(request, body),
            request=request,
        )

    def handle_exception(self, exc: Exception) -> HttpResponseBase:  # type: ignore[override]
        if isinstance(exc, _Replay):
            return exc.response
        try:
            return super().handle_exception(exc)
        except Exception:  # an unhandled error (500): release the key so a retry can run
            if self._idempotency_record is not None:
                IdempotencyRecord.objects.filter(pk=self._idempotency_record.pk).delete()
                self._idempotency_record = None
            raise

    def finalize_response(  # type: ignore[override]
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[arg-type]
        record, self._idempotency_record = self._idempotency_record, None
        if record is None:
            return response
        if response.status_code >= 500:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        if hasattr(response, "render"):
            response.render()
        content = getattr(response, "content", b"")
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            body=content,
            completed_at=timezone.now(),
        )
        return response


def idempotency_purge(*, now: Any = None) -> int:
    """Delete records older than the TTL (a beat task runs this hourly)."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.LEADFLOW_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted

"""Throttles: API keys by their own limit (``leadflow.ratelimit``), sessions by DRF's default."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.throttling import BaseThrottle, UserRateThrottle

from leadflow import ratelimit
from leadflow.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


def key_limit(key: ApiKey) -> int:
    return key.rate_limit or int(settings.LEADFLOW_API_KEY_RATE_LIMIT)


def key_wait(key: ApiKey) -> float | None:
    """Count one request for ``key``; seconds to wait if it is over its limit, else None."""
    window = int(settings.LEADFLOW_API_KEY_RATE_WINDOW)
    return ratelimit.hit(f"key:{key.prefix}", limit=key_limit(key), window=window)


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


class ApiKeyRateThrottle(BaseThrottle):
    """429 + Retry-After once a key has made its limit of requests in the current window."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        self._wait = key_wait(request.auth)
        return self._wait is None

    def wait(self) -> float | None:
        return None if self._wait is None else float(retry_after(self._wait))


class SessionUserRateThrottle(UserRateThrottle):
    """DRF's per-user throttle, for people logged in with a session (keys have their own)."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        return super().allow_request(request, view)

"""Throttles: API keys by their own limit (``leadflow.ratelimit``), sessions by DRF's default."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.throttling import BaseThrottle, UserRateThrottle

from leadflow import ratelimit
from leadflow.client_ip import client_ip
from leadflow.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


def key_limit(key: ApiKey) -> int:
    return key.rate_limit or int(settings.LEADFLOW_API_KEY_RATE_LIMIT)


def key_wait(key: ApiKey, ip: str | None = None) -> float | None:
    """Count one request for ``key``; seconds to wait if it is over its limit, else None.

    A public key is in every visitor's browser, so anyone can send with it: each client IP
    first has a share of its own (``LEADFLOW_PUBLIC_KEY_IP_RATE_LIMIT``), and a visitor over
    it is refused before counting against the key, so one sender cannot use up the site's
    whole limit."""
    window = int(settings.LEADFLOW_API_KEY_RATE_WINDOW)
    if key.kind == ApiKey.Kind.PUBLIC and ip:
        per_ip = int(settings.LEADFLOW_PUBLIC_KEY_IP_RATE_LIMIT)
        if (
            wait := ratelimit.hit(f"key:{key.prefix}:ip:{ip}", limit=per_ip, window=window)
        ) is not None:
            return wait
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
        self._wait = key_wait(request.auth, client_ip(request))
        return self._wait is None

    def wait(self) -> float | None:
        return None if self._wait is None else float(retry_after(self._wait))


class SessionUserRateThrottle(UserRateThrottle):
    """DRF's per-user throttle, for people logged in with a session (keys have their own)."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        return super().allow_request(request, view)

"""Login lockout on top of django-axes: the 429 page, audit rows, and the one way to unlock.

Policy (settings "Login lockout", docs/operations.md): ``LEADFLOW_LOGIN_FAILURE_LIMIT`` failed
logins for one user name (from any address), or from one address (for any user names), with no
pause of ``LEADFLOW_LOGIN_COOLOFF_MINUTES`` between them, lock that user name or address until the
cool-off has passed. While locked even the right password is refused, without being checked.
axes counts the failures in its ``AccessAttempt`` rows; removing rows is what unlocks, so every
unlock goes through ``login_unlock``, which writes the audit row.
"""

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import (
    get_client_parameters,
    get_client_username,
    get_cool_off,
    get_failure_limit,
)
from axes.models import AccessAttempt
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from leadflow.audit import audit_record
from leadflow.models import User


@dataclass(frozen=True)
class Lockout:
    until: datetime
    by_username: bool  # the user name's own count is at the limit
    by_address: bool  # the address's count is at the limit


def _cool_off(request: HttpRequest | None) -> timedelta:
    return get_cool_off(request) or timedelta(0)


def lockout_state(request: HttpRequest, credentials: dict[str, Any] | None) -> Lockout | None:
    """Which of this request's counters are at the limit, and when the last of them frees up.

    A counter sums the failures of its rows still inside the cool-off window; rows leave the
    window oldest first, so the lock ends the cool-off after the row whose leaving takes the
    sum below the limit.
    """
    AxesProxyHandler.update_request(request)
    cool_off = _cool_off(request)
    limit = get_failure_limit(request, credentials)
    counters = get_client_parameters(
        get_client_username(request, credentials),
        request.axes_ip_address,  # type: ignore[attr-defined]
        request.axes_user_agent,  # type: ignore[attr-defined]
        request,
        credentials,
    )
    querysets = AxesDatabaseHandler().get_user_attempts(request, credentials)
    ends: list[datetime] = []
    by_username = by_address = False
    for counter, attempts in zip(counters, querysets, strict=True):
        rows = list(
            attempts.order_by("attempt_time").values_list("attempt_time", "failures_since_start")
        )
        total = sum(n for _, n in rows)
        if total < limit:
            continue
        for at, n in rows:
            total -= n
            if total < limit:
                ends.append(at + cool_off)
                break
        by_username = by_username or "username" in counter
        by_address = by_address or "ip_address" in counter
    if not ends:
        return None
    return Lockout(until=max(ends), by_username=by_username, by_address=by_address)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """axes' AXES_LOCKOUT_CALLABLE: 429 with Retry-After and a page saying why and until when."""
    now = timezone.now()
    state = lockout_state(request, credentials)
    until = state.until if state else now + _cool_off(request)
    seconds = max(1, math.ceil((until - now).total_seconds()))
    response = render(
        request,
        "registration/locked_out.html",
        {
            "until": until,
            "minutes": math.ceil(seconds / 60),
            "by_username": state.by_username if state else True,
            "by_address": state.by_address if state else False,
            "username": get_client_username(request, credentials) or "",
            "limit": get_failure_limit(request, credentials),
        },
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


def _user_pk(username: str | None) -> object:
    if not username:
        return ""
    return User.objects.filter(username=username).values_list("pk", flat=True).first() or ""


def on_user_locked_out(
    sender: Any, *, request: HttpRequest, username: str | None, ip_address: str | None, **kw: Any
) -> None:
    """axes' ``user_locked_out``: one audit row per lockout.

    axes also sends it for every attempt refused while locked; those were refused before any
    failure was counted, so ``axes_failures_since_start`` is still unset on their request.
    """
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    state = lockout_state(request, getattr(request, "axes_credentials", None))
    audit_record(
        action="auth.lockout",
        target_type="user",
        target_id=_user_pk(username),
        details={
            "username": username or "",
            "ip_address": ip_address or "",
            "failures": failures,
            "by_username": state.by_username if state else None,
            "by_address": state.by_address if state else None,
            "until": state.until.isoformat() if state else None,
        },
        request=request,
    )


@transaction.atomic
def login_unlock(
    *,
    actor: User | None,
    username: str = "",
    ip_address: str = "",
    attempt_ids: Collection[int] | None = None,
    everything: bool = False,
    request: HttpRequest | None = None,
) -> int:
    """Forget failed logins and audit it: those of ``username`` and those from ``ip_address``
    (either matches), or the rows ``attempt_ids``, or all. Returns how many rows went; nothing
    to forget writes no audit row."""
    if everything:
        match = Q()
    elif attempt_ids is not None:
        match = Q(pk__in=list(attempt_ids))
    elif username or ip_address:
        match = Q(pk__in=[])
        if username:
            match |= Q(username=username)
        if ip_address:
            match |= Q(ip_address=ip_address)
    else:
        raise ValueError("Name a user name, an address, attempt rows or everything.")
    attempts = AccessAttempt.objects.select_for_update().filter(match)
    rows = list(attempts.values("username", "ip_address", "failures_since_start"))
    if not rows:
        return 0
    attempts.delete()
    audit_record(
        action="auth.unlock",
        actor=actor,
        target_type="user" if username else "",
        target_id=_user_pk(username),
        details={
            "username": username,
            "ip_address": ip_address,
            "everything": everything,
            "forgotten": [
                {
                    "username": r["username"],
                    "ip_address": r["ip_address"],
                    "failures": r["failures_since_start"],
                }
                for r in rows[:100]
            ],
            "rows": len(rows),
        },
        request=request,
    )
    return len(rows)

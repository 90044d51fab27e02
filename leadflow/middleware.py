from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from leadflow import i18n
from leadflow.models import WorkerHeartbeat

HEALTH_PATH = "/healthz"
STALE_AFTER = timedelta(minutes=2)


class HealthCheckMiddleware:
    """Answers /healthz before host validation and the HTTPS redirect, so container and load
    balancer probes (plain HTTP, by IP) work in production. Reports the database and whether
    the worker + beat pair has run the heartbeat task recently."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != HEALTH_PATH:
            return self.get_response(request)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beat = WorkerHeartbeat.objects.filter(name="beat").first()
        fresh = beat is not None and timezone.now() - beat.seen_at < STALE_AFTER
        return JsonResponse(
            {
                "database": "ok",
                "worker": "ok" if fresh else "stale",
                "worker_seen_at": beat.seen_at.isoformat() if beat else None,
            }
        )


class UserLocaleMiddleware:
    """After authentication: a signed-in user reads their profile's language and time zone
    (leadflow.i18n); without a profile language, the one LocaleMiddleware negotiated from
    Accept-Language. A profile value that is no longer valid falls back to the default and
    says so once a session."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        language = i18n.valid_language(user.language)
        if language is not None:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        elif user.language:
            _warn_once(
                request,
                "language",
                _("Your profile's language %(value)s is not one LeadFlow has; English is used.")
                % {"value": user.language},
            )
        zone = i18n.valid_time_zone(user.time_zone)
        if zone is None and user.time_zone:
            _warn_once(
                request,
                "time_zone",
                _("Your profile's time zone %(value)s is unknown; the site's time zone is used.")
                % {"value": user.time_zone},
            )
        if zone is not None:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def _warn_once(request: HttpRequest, what: str, message: str) -> None:
    key = f"i18n-warned-{what}"
    if not hasattr(request, "session") or request.session.get(key):
        return
    request.session[key] = True
    messages.warning(request, message)

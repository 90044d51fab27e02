from collections.abc import Callable
from datetime import timedelta

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

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

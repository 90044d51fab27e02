"""The Celery app. Tasks carry ids only and are idempotent; see ARCHITECTURE.md principle 1."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

app = Celery("leadflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
if settings.LEADFLOW_BULK_QUEUE:
    # set as the plain key, not CELERY_TASK_ROUTES: with Django's namespace that one would shadow
    # any later `app.conf.task_routes = …` (the tests route to queues of their own that way)
    app.conf.task_routes = {
        name: {"queue": settings.LEADFLOW_BULK_QUEUE} for name in settings.LEADFLOW_BULK_TASKS
    }


@worker_ready.connect
def _say_ready(**kwargs: object) -> None:
    """`manage.py run` waits for this file to print its banner after the worker's start-up."""
    if path := os.environ.get("LEADFLOW_WORKER_READY_FILE"):
        Path(path).touch()

"""The Celery app. Tasks carry ids only and are idempotent; see ARCHITECTURE.md principle 1."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

app = Celery("leadflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _say_ready(**kwargs: object) -> None:
    """`manage.py run` waits for this file to print its banner after the worker's start-up."""
    if path := os.environ.get("LEADFLOW_WORKER_READY_FILE"):
        Path(path).touch()

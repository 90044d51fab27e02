"""Start a real Celery worker process on the test database and the configured broker."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# One token per test process: the run (xdist's run id, shared by the run's workers, or the pid)
# and the xdist worker. It names this run's test database, broker queue and logs (conftest.py).
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8] or str(os.getpid())
RUN_TOKEN = f"{RUN_ID}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def private_queue(name: str) -> str:
    """``name`` made unique to this run, for tests that route tasks to a queue of their own."""
    return f"{name}-{RUN_TOKEN}"


def database_url_for_subprocesses() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def celery_worker(*args: str, log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A worker (``args`` add e.g. ``--beat``) that sees what the test process committed."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocesses(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    log_path = log or ROOT / "var" / f"test-worker-{RUN_TOKEN}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)  # (a fresh clone has no var/ yet)
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "leadflow",
                "worker",
                "--pool=threads",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                *args,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until(check: Callable[[], bool], timeout: float = 30.0, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


@contextmanager
def own_queue(app: Any, queue: str, tasks: str) -> Iterator[None]:
    """Route ``tasks`` (a glob such as ``"scoring.tasks.*"``) to ``queue`` so a worker left behind
    by another test cannot take them."""
    with task_routes(app, {tasks: {"queue": queue}}):
        yield


@contextmanager
def task_routes(app: Any, routes: dict[str, dict[str, str]]) -> Iterator[None]:
    """Publish with ``routes`` (exact task names win over globs); Celery caches its router:
    rebuild it both ways."""
    saved = app.conf.task_routes
    app.conf.task_routes = routes
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)
    try:
        yield
    finally:
        app.conf.task_routes = saved
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)

"""The two run profiles: embedded (no servers) and production (env only), and the compose file."""

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from leadflow.models import WorkerHeartbeat
from tests.worker import ROOT, celery_worker, database_url_for_subprocesses, wait_until

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "x" * 20 + "a-long-random-production-secret-value-0123456789",
    "DJANGO_ALLOWED_HOSTS": "crm.example.com",
    "DATABASE_URL": "postgres://leadflow@db.invalid:5432/leadflow",
    "CELERY_BROKER_URL": "redis://redis.invalid:6379/0",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_in_the_production_profile():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_profile_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def _var_paths(env: dict[str, str]) -> tuple[str, str, str]:
    """Where a process started with ``env`` (and the embedded broker) queues its tasks, keeps
    its beat's schedule and writes e-mails."""
    env = {
        k: v
        for k, v in env.items()
        if k not in ("CELERY_BROKER_URL", "DATABASE_URL", "DJANGO_EMAIL_BACKEND")
    }
    code = (
        "from django.conf import settings as s; "
        "print(s.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_out'], "
        "s.CELERY_BEAT_SCHEDULE_FILENAME, s.EMAIL_FILE_PATH)"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    queue, schedule, mail = result.stdout.strip().splitlines()[-1].split()
    return queue, schedule, mail


def test_tests_and_the_demo_keep_apart_broker_folder_beat_schedule_and_mail():
    """A `scripts/run` demo worker must not take a test's tasks, nor a test's worker the demo's;
    nor share beat's schedule file or the e-mail folder."""
    demo_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LEADFLOW_BROKER_FOLDER", "DJANGO_EMAIL_FILE_PATH")
    }
    demo = _var_paths(demo_env)  # what `scripts/run` in this checkout uses
    from_tests = _var_paths(dict(os.environ))  # what workers and servers started by tests use
    var = ROOT / "var"
    assert demo == (
        str(var / "celery" / "queue"),
        str(var / "celerybeat-schedule"),
        str(var / "mail"),
    )
    assert [a != b for a, b in zip(from_tests, demo, strict=True)] == [True, True, True]
    # and this test process itself queues through the tests' folder
    assert Path(from_tests[0]).parent == settings.LEADFLOW_BROKER_FOLDER


def test_production_collectstatic_builds_the_hashed_manifest(tmp_path: Path):
    """The Dockerfile's build step, with whatever STORAGES says when DEBUG=0 (the manifest
    storage fails on a file that names a missing one, e.g. a vendored source map)."""
    root = tmp_path / "static"
    result = _manage(
        "collectstatic", "--noinput", env={**PRODUCTION_ENV, "DJANGO_STATIC_ROOT": str(root)}
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    paths = json.loads((root / "staticfiles.json").read_text())["paths"]
    for name in ("css/leadflow.css", "js/leadflow.js", "vendor/chartjs/chart.umd.min.js"):
        hashed = paths[name]
        assert hashed != name
        assert (root / hashed).is_file()
        assert (root / f"{hashed}.gz").is_file()  # compressed for whitenoise


def _settings_variables() -> set[str]:
    source = (ROOT / "leadflow" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', source))


def test_compose_services_agree_with_the_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    known = _settings_variables()
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert set(env) <= known, (
            f"{name} sets variables the settings never read: {set(env) - known}"
        )
        assert env["DJANGO_DEBUG"] == "0"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["DATABASE_URL"].endswith("@postgres:5432/leadflow")
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
        assert "DJANGO_SECRET_KEY" in env
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # one source for each process's command: the scripts .ci/smoke runs too
    for name, runs in (
        ("web", ["manage.py migrate", "gunicorn leadflow.wsgi:application"]),
        ("worker", ["celery -A leadflow worker"]),
        ("beat", ["celery -A leadflow beat"]),
    ):
        assert services[name]["command"] == [f"scripts/serve-{name}"]
        script = (ROOT / "scripts" / f"serve-{name}").read_text()
        assert all(part in script for part in runs), (name, runs)
    assert "scripts/build-static" in (ROOT / "Dockerfile").read_text()
    for name in ("postgres", "redis", "web"):
        assert "healthcheck" in services[name]
    assert {"pgdata", "redisdata"} <= set(compose["volumes"])
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "leadflow"


@pytest.mark.worker
def test_real_worker_runs_a_task_queued_through_the_broker(live_celery):
    from leadflow.tasks import worker_heartbeat_task

    with celery_worker():
        worker_heartbeat_task.delay("from-test")
        assert wait_until(lambda: WorkerHeartbeat.objects.filter(name="from-test").exists(), 60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.worker
def test_run_command_serves_pages_and_runs_periodic_work(live_celery, tmp_path: Path):
    """README's run command: web server + worker + beat, on the test database."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocesses(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    log = (tmp_path / "run.log").open("wb")
    workers: list[int] = []
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "run", f"127.0.0.1:{port}", "--no-demo"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def login_page_up() -> bool:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/accounts/login/", timeout=2
                ) as r:  # noqa: S310
                    return bool(r.status == 200)
            except OSError:
                return False

        assert wait_until(login_page_up, 60), (tmp_path / "run.log").read_text()
        # the URL comes last, after runserver's lines and the worker's banner
        url_line = f"LeadFlow is running at http://127.0.0.1:{port}/"
        assert wait_until(lambda: url_line in (tmp_path / "run.log").read_text(), 60)
        output = (tmp_path / "run.log").read_text()
        assert output.index("Starting development server") < output.index(url_line)
        assert output.index("[queues]") < output.index(url_line)
        # beat (embedded in the worker) fires the heartbeat every 15 s
        assert wait_until(lambda: WorkerHeartbeat.objects.filter(name="beat").exists(), 60), (
            tmp_path / "run.log"
        ).read_text()
        workers.extend(_children_of(proc.pid))
        assert workers, "run started no worker process"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    # stopping `run` stops its worker too (no orphaned background processes)
    assert wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 30)


def _children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []

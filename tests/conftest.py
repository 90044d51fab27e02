import importlib
import os
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

from leadflow.roles import Role
from tests.leads.factories import UserFactory
from tests.worker import RUN_ID, RUN_TOKEN

pytest_plugins = ["tests.schemathesis_totals"]  # the Schemathesis totals, also under xdist

_handover_defaults = importlib.import_module("handover.migrations.0002_defaults")
_exit_reasons = importlib.import_module("leads.migrations.0021_exit_reasons")
_channel_rules = importlib.import_module("attribution.migrations.0002_default_channel_rules")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """A test database of this run's own (pytest-django adds xdist's ``_gwN`` first), so two runs
    on one PostgreSQL server, or two checkouts, never drop each other's database.
    ``DATABASE_TEST_NAME`` names it exactly instead."""
    if os.environ.get("DATABASE_TEST_NAME"):
        return
    test = settings.DATABASES["default"].setdefault("TEST", {})
    test["NAME"] = f"{test['NAME']}_{RUN_ID}"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end the sessions that threads of finished tests
    left open on it (PostgreSQL refuses to drop a database others are connected to)."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session", autouse=True)
def _own_broker_queue_and_counters() -> None:
    """This run's tasks go to a queue of its own (and its rate-limit counters to keys of their
    own): parallel runs and a demo worker on the same broker never take each other's work.
    Subprocess workers inherit the queue through the environment."""
    from leadflow.celery import app

    queue = f"test-{RUN_TOKEN}"
    os.environ["LEADFLOW_CELERY_QUEUE"] = queue
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    app.conf.task_default_queue = queue
    amqp: Any = app.amqp  # (Celery builds its queues and router lazily and caches them)
    amqp.flush_routes()
    amqp.__dict__.pop("router", None)
    amqp.__dict__.pop("queues", None)
    settings.LEADFLOW_RATE_LIMIT_PREFIX = f"lf:rl:{queue}"


@pytest.fixture(autouse=True)
def _install_defaults(request):
    """A transactional test's flush empties every table; roles come back through post_migrate,
    the install defaults data migrations seed (rejection and exit reasons, frameworks, SLA
    policies, channel rules) do not. Seed them again, idempotently, so every test sees a fresh install in any
    order."""
    if request.node.get_closest_marker("django_db") is not None:
        request.getfixturevalue("_django_db_helper")
    elif "transactional_db" in request.fixturenames:
        request.getfixturevalue("transactional_db")
    elif "db" in request.fixturenames:
        request.getfixturevalue("db")
    else:
        return
    from handover.models import RejectionReason
    from leads.models import ExitReason

    if not RejectionReason.objects.exists():
        _handover_defaults.forwards(apps, None)
    if not ExitReason.objects.exists():
        _exit_reasons.forwards(apps, None)
    _channel_rules.forwards(apps, None)  # idempotent: seeds only an empty table


# Workers and servers the tests start queue through the tests' broker folder (var/celery-test/)
# and write e-mails to var/mail-test/, never to those of a `scripts/run` in this checkout
# (settings.py decides which).
os.environ["LEADFLOW_BROKER_FOLDER"] = str(settings.LEADFLOW_BROKER_FOLDER)
os.environ["DJANGO_EMAIL_FILE_PATH"] = str(settings.EMAIL_FILE_PATH)


@pytest.fixture(autouse=True)
def _english_and_the_site_zone_again():
    """A page a test requests as a German reader leaves German active in this thread (Django's
    LocaleMiddleware activates a language per request and never deactivates it): the next test,
    calling services without a request, would read German. Each test starts in English and the
    site's zone, as a worker or command does."""
    from django.utils import timezone, translation

    yield
    translation.activate(settings.LANGUAGE_CODE)
    timezone.deactivate()


@pytest.fixture(autouse=True)
def _fast_and_eager(settings):
    """MD5 hashing for speed; Celery eager unless a test starts a real worker."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # a test changes a form and submits at once; tests/capture/test_form_cache.py has the cache
    settings.LEADFLOW_CAPTURE_FORM_CACHE_SECONDS = 0
    from leadflow.celery import app

    app.conf.task_always_eager = True


def pytest_collection_modifyitems(config, items):
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None and marker.kwargs.get("serialized_rollback"):
            raise pytest.UsageError(
                f"{item.nodeid}: serialized_rollback reloads the groups that post_migrate has "
                "already recreated after the flush (duplicate key on auth_group). Transactional "
                "tests get the install defaults from the _install_defaults fixture instead."
            )
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def marketer(db):
    return UserFactory(username="marketer", role=Role.MARKETER)


@pytest.fixture
def rep(db):
    return UserFactory(username="rep", role=Role.SALES_REP)


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", role=Role.SALES_MANAGER)


@pytest.fixture
def live_celery(transactional_db, settings):
    """Tasks really go through the broker (Redis in CI, the filesystem broker on a laptop)."""
    from leadflow.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    _purge_run_queue(app)
    yield app
    app.conf.task_always_eager = True
    _purge_run_queue(app)


def _purge_run_queue(app) -> int:
    """Drop what an earlier test left queued (beat's periodic tasks, a stopped worker's
    backlog): a worker started by this test would work through it first, past its wait."""
    with app.connection_for_write() as conn:
        return int(conn.default_channel.queue_purge(app.conf.task_default_queue) or 0)


@pytest.fixture
def make_api_key(db):
    """``make_api_key("leads:read", ...)`` -> (secret, ApiKey) acting as an integration account."""
    from leadflow.apikeys import api_key_create

    counter = iter(range(1, 10_000))

    def make(*scopes, user=None, rate_limit=None, name=None, kind="secret"):
        created = api_key_create(
            name=name or f"test-key-{next(counter)}",
            scopes=scopes or ("leads:read",),
            user=user,
            rate_limit=rate_limit,
            kind=kind,
        )
        return created.secret, created.api_key

    return make

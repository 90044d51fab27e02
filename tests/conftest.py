import os

import pytest
from django.conf import settings
from django.db import connection

from leadflow.roles import Role
from tests.leads.factories import UserFactory

# Workers and servers the tests start queue through the tests' broker folder (var/celery-test/)
# and write e-mails to var/mail-test/, never to those of a `scripts/run` in this checkout
# (settings.py decides which).
os.environ["LEADFLOW_BROKER_FOLDER"] = str(settings.LEADFLOW_BROKER_FOLDER)
os.environ["DJANGO_EMAIL_FILE_PATH"] = str(settings.EMAIL_FILE_PATH)


@pytest.fixture(autouse=True)
def _fast_and_eager(settings):
    """MD5 hashing for speed; Celery eager unless a test starts a real worker."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from leadflow.celery import app

    app.conf.task_always_eager = True


def pytest_collection_modifyitems(config, items):
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
    for item in items:
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
    yield app
    app.conf.task_always_eager = True


@pytest.fixture
def make_api_key(db):
    """``make_api_key("leads:read", ...)`` -> (secret, ApiKey) acting as an integration account."""
    from leadflow.apikeys import api_key_create

    counter = iter(range(1, 10_000))

    def make(*scopes, user=None, rate_limit=None, name=None):
        created = api_key_create(
            name=name or f"test-key-{next(counter)}",
            scopes=scopes or ("leads:read",),
            user=user,
            rate_limit=rate_limit,
        )
        return created.secret, created.api_key

    return make

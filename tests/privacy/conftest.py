import io

import pytest
from django.core.files import File

from leadflow.roles import Role
from privacy.imports import import_job_create, import_run
from tests.leads.factories import UserFactory


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", role=Role.ADMIN, is_staff=True)


@pytest.fixture
def run_import(db):
    """Import ``data`` (bytes) through the same service the page, API and command use."""

    def run(data: bytes, name: str = "leads.csv", **options):
        job = import_job_create(
            upload=File(io.BytesIO(data), name=name), actor=None, enqueue=False, **options
        )
        return import_run(job_id=job.pk)

    return run

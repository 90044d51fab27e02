import pytest
from django.core.cache import cache
from django.test import Client

from tests.capture.factories import DEFAULT_ORIGIN


@pytest.fixture(autouse=True)
def _capture_settings(settings):
    """Fast challenges, and counters of this test's own (rate limits and token claims live in
    Redis under the run's prefix: a test must not see another test's counts)."""
    import uuid

    settings.LEADFLOW_CAPTURE_POW_BITS = 4
    settings.LEADFLOW_RATE_LIMIT_PREFIX = (
        f"{settings.LEADFLOW_RATE_LIMIT_PREFIX}:{uuid.uuid4().hex[:8]}"
    )
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    cache.clear()


class VisitorClient(Client):
    """A browser on the host site: posts JSON (the script embed) or a form, with its Origin."""

    def __init__(self, origin: str = DEFAULT_ORIGIN, on_commit=None, **kw):
        super().__init__(**kw)
        self.origin = origin
        self.on_commit = on_commit

    def submit(self, form, data, *, as_json=True, origin=None, **extra):
        """Post, then run what the post left for after its commit (the eager worker task that
        makes the received submission a lead): a test's transaction never commits."""
        headers = {"Origin": self.origin if origin is None else origin, **extra.pop("headers", {})}
        url = f"/f/{form.public_id}/submit"
        kwargs = {"content_type": "application/json"} if as_json else {}
        if self.on_commit is None:
            return self.post(url, data, headers=headers, **kwargs, **extra)
        with self.on_commit(execute=True):
            return self.post(url, data, headers=headers, **kwargs, **extra)


@pytest.fixture
def visitor(django_capture_on_commit_callbacks):
    return VisitorClient(on_commit=django_capture_on_commit_callbacks)

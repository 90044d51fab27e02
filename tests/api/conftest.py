"""Fixtures of the Schemathesis tests; the totals are tests/schemathesis_totals.py."""

from collections import Counter
from typing import Any

import pytest
from django.core import signals
from django.db import close_old_connections


@pytest.fixture
def schemathesis_tally(request: pytest.FixtureRequest) -> Any:
    """A Counter of status codes for this test's cases, handed to the report at teardown."""
    tally: Counter[int] = Counter()
    yield tally
    request.node.user_properties.append(("schemathesis_statuses", dict(tally)))


@pytest.fixture
def keep_the_test_connection():
    """As Django's test client does: a request sent through the WSGI app (Schemathesis) must not
    close the test's DB connection at its end."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)

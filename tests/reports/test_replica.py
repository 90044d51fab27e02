"""Reports on a real streaming replica (leadflow/replica.py).

Runs when ``DATABASE_REPLICA_URL`` names a standby of the test server (CI starts one with
``scripts/pg-replica``); otherwise only the no-replica behaviour is checked.
"""

import fcntl
import os
import time
from collections.abc import Iterator
from typing import Any

import environ
import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from leadflow.replica import REPLICA, choose_source, replica_configured, replica_lag
from reports.services import milestones_refresh
from tests.reports.conftest import make_lead, t

needs_replica = pytest.mark.skipif(
    not os.environ.get("DATABASE_REPLICA_URL"), reason="no DATABASE_REPLICA_URL (a standby)"
)
on_replica = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])


def _funnel_customers(api: APIClient) -> tuple[int, str, str]:
    body = api.get("/api/v1/reports/funnel/").json()
    customers = next(r["leads"] for r in body["rows"] if r["stage"] == "customer")
    return customers, body["read_from"], body["read_note"]


def _primary_lsn() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return str(cursor.fetchone()[0])


def _replica(sql: str, params: list[str] | None = None) -> object:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return row[0] if row else None


def wait_for_replica(timeout: float = 30.0) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    lsn = _primary_lsn()
    deadline = time.monotonic() + timeout
    while not _replica("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]):
        assert time.monotonic() < deadline, "the replica did not catch up in time"
        time.sleep(0.05)


@pytest.fixture
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The ``replica`` alias on the standby's copy of this run's test database (the test setup
    made it a mirror of ``default``, i.e. the primary). One test at a time holds the standby:
    pausing its replay is server-wide, so a pause by one xdist worker made another's wait time
    out, and another's teardown resumed it (CI: "the paused standby never lagged")."""
    url = environ.Env.db_url_config(os.environ["DATABASE_REPLICA_URL"])
    lock_path = tmp_path_factory.getbasetemp().parent / f"standby-{url['PORT']}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield from _on_standby(url)


def _on_standby(url: dict[str, Any]) -> Iterator[None]:
    default = connections["default"].settings_dict
    connection = connections[REPLICA]
    mirror = connection.settings_dict
    connection.close()
    standby = {**default, "HOST": url["HOST"], "PORT": url["PORT"]}
    connection.settings_dict = standby
    assert _replica("SELECT pg_is_in_recovery()") is True, "DATABASE_REPLICA_URL is no standby"
    yield
    connection.close()
    connection.settings_dict = standby  # (a test may have pointed it elsewhere)
    if _replica("SELECT pg_is_wal_replay_paused()"):
        _replica("SELECT pg_wal_replay_resume()::text")
    connection.close()
    connection.settings_dict = mirror


@pytest.fixture
def api(manager) -> APIClient:
    client = APIClient()
    client.force_authenticate(manager)
    return client


@needs_replica
@on_replica
def test_reports_read_from_the_replica(replica, history, api, client, manager) -> None:
    wait_for_replica()
    with CaptureQueriesContext(connections[REPLICA]) as on_standby:
        customers, read_from, note = _funnel_customers(api)
    assert (customers, read_from, note) == (2, "replica", "")
    assert any("reports_" in q["sql"] for q in on_standby.captured_queries)

    # Proof that the figures come from the standby: with its replay paused, a customer won on
    # the primary does not show up while the standby is within the lag limit
    _replica("SELECT pg_wal_replay_pause()::text")
    won = make_lead("F", "web", None, [("suspect", t(3, 1)), ("customer", t(3, 2))])
    milestones_refresh(lead_ids=[won.pk])
    assert _funnel_customers(api)[:2] == (2, "replica")
    client.force_login(manager)
    page = client.get("/reports/funnel/")
    assert b'data-read-from="replica"' in page.content
    assert client.get("/reports/funnel/export.csv")["X-LeadFlow-Read-From"] == "replica"


@needs_replica
@on_replica
def test_a_lagging_replica_is_skipped_and_the_page_says_so(
    replica, history, api, client, manager, settings
) -> None:
    settings.LEADFLOW_REPLICA_MAX_LAG_SECONDS = 0.5
    wait_for_replica()
    _replica("SELECT pg_wal_replay_pause()::text")
    won = make_lead("G", "web", None, [("suspect", t(3, 1)), ("customer", t(3, 2))])
    milestones_refresh(lead_ids=[won.pk])
    # the standby must first receive what it cannot replay: until then it looks caught up
    # (received = replayed) and its lag is 0 (CI once saw no WAL arrive for 10 s)
    lsn = _primary_lsn()
    deadline = time.monotonic() + 60
    while not _replica("SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn", [lsn]):
        assert time.monotonic() < deadline, "the paused standby received no WAL in 60 s"
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while (lag := replica_lag()) is None or lag <= 0.5:
        assert time.monotonic() < deadline, f"the paused standby never lagged ({lag})"
        time.sleep(0.1)
    customers, read_from, note = _funnel_customers(api)
    assert (customers, read_from) == (3, "primary")  # the new customer: read on the primary
    assert "behind" in note
    client.force_login(manager)
    page = client.get("/reports/funnel/")
    assert b"read replica is" in page.content
    assert b'data-read-from="primary"' in page.content
    assert client.get("/reports/funnel/export.csv")["X-LeadFlow-Read-From"] == "primary"


@needs_replica
@on_replica
def test_an_unreachable_replica_is_skipped(replica, history, api) -> None:
    connection = connections[REPLICA]
    connection.close()
    connection.settings_dict = {**connection.settings_dict, "PORT": "1"}  # nothing listens
    customers, read_from, note = _funnel_customers(api)
    assert (customers, read_from) == (2, "primary")
    assert "did not answer" in note


@pytest.mark.django_db
def test_inside_a_transaction_or_without_a_replica_reports_read_the_primary(history, api) -> None:
    source = choose_source()
    assert source.alias == "default"
    # a test's own transaction: the standby could not see its rows
    assert source.note == (
        "Read from the primary inside a transaction." if replica_configured() else ""
    )
    assert _funnel_customers(api)[:2] == (2, "primary")

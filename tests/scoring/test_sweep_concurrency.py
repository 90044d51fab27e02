"""The dirty sweep against transactions still open on other connections (PostgreSQL: SQLite
has one writer at a time). Each test holds a second connection mid-transaction in a thread.

Activities recorded before the model is published keep their marks: the sweep that ingestion
queues on commit (eager here) finds no model to score with."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from leads import ingest
from leads import services as lead_services
from leads.models import ActivityKind, Lead, RescoreMark
from scoring import services
from tests.leads.factories import LeadFactory
from tests.scoring.factories import activity_rule, make_model

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@contextmanager
def held_open(work: Callable[[], object]) -> Iterator[None]:
    """Run ``work`` in a transaction on another connection and keep it open (uncommitted)
    for the body of the ``with``; it commits on exit."""
    started, release, failed = threading.Event(), threading.Event(), []

    def run() -> None:
        try:
            with transaction.atomic():
                work()
                started.set()
                if not release.wait(30):  # the body was stuck behind this transaction's locks
                    raise TimeoutError("the test body waited 30 s on the held transaction")
        except Exception as exc:  # surfaced below: a thread's exception is otherwise lost
            failed.append(exc)
            started.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(30), "the other transaction did not start"
    try:
        yield
    finally:
        release.set()
        thread.join(30)
    assert not failed, failed


def _webinar(lead: Lead) -> None:
    lead_services.activity_record(
        lead_id=lead.pk,
        kind=ActivityKind.WEBINAR,
        occurred_at=timezone.now() - timedelta(minutes=1),
    )


def _ingested_webinar(lead: Lead) -> None:
    """The bulk ingestion path (one statement for the activities and their marks)."""
    message = ingest.Message(
        index=0,
        type=ingest.ACTIVITY,
        lead_id=lead.pk,
        kind=ActivityKind.WEBINAR,
        occurred_at=timezone.now() - timedelta(minutes=1),
    )
    result = ingest.ingest(messages=[message], source="test")
    assert result.stored == 1, result.errors


@pytest.mark.parametrize("record", [_webinar, _ingested_webinar], ids=["service", "ingest"])
def test_an_activity_committed_during_a_sweep_keeps_its_mark(record):
    """The sweep took the lead's older mark and scored without the uncommitted activity; that
    activity's own mark must survive, or its points would wait for the next full rescore."""
    lead = LeadFactory()
    _webinar(lead)  # committed, marked
    make_model([activity_rule(ActivityKind.WEBINAR, 15)])
    with held_open(lambda: record(lead)):
        assert services.score_dirty_sweep().scored == 1
        lead.refresh_from_db()
        assert lead.score == 15  # the open transaction's activity is not visible yet
    # its commit queued a sweep (run eagerly in that thread); whichever sweep takes the mark,
    # the second webinar counts
    services.score_dirty_sweep()
    lead.refresh_from_db()
    assert (lead.score, lead.rescore_marks.exists()) == (30, False)


def test_a_lead_someone_holds_is_skipped_and_keeps_its_mark():
    held, free = LeadFactory(), LeadFactory()
    _webinar(held)
    _webinar(free)
    make_model([activity_rule(ActivityKind.WEBINAR, 15)])
    # a rep editing the lead holds its row (lead_update locks it FOR NO KEY UPDATE)
    with held_open(lambda: Lead.objects.select_for_update(no_key=True).get(pk=held.pk)):
        assert services.score_dirty_sweep(max_batches=1).scored == 1
        assert list(RescoreMark.objects.values_list("lead_id", flat=True)) == [held.pk]
    assert services.score_dirty_sweep().scored == 1
    assert sorted(Lead.objects.values_list("score", flat=True)) == [15, 15]
    assert not RescoreMark.objects.exists()


def test_two_sweeps_at_once_take_different_marks():
    leads = [LeadFactory() for _ in range(6)]
    for lead in leads:
        _webinar(lead)
    make_model([activity_rule(ActivityKind.WEBINAR, 15)])
    taken: list[int] = []

    def other_sweep() -> None:
        taken.append(services.score_dirty_sweep(batch_size=3, max_batches=1).scored)

    # the other sweep's batch stays open while this one runs: its marks are skipped, not waited on
    with held_open(other_sweep):
        assert services.score_dirty_sweep(batch_size=3, max_batches=1).scored == 3
    assert taken == [3]
    assert not RescoreMark.objects.exists()
    assert set(Lead.objects.values_list("score", flat=True)) == {15}

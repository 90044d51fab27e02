"""One lead that fails cannot stall scoring (head-of-line blocking, issue 22): its batch goes on
without it, it waits in the dead-letter table with its error, and a retry clears it.

The fault is real: a trigger refuses one lead's rows as a unique constraint would."""

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from leadflow import deadletter
from leadflow.models import DeadLetter
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityKind, Lead, RescoreMark, StageChange
from scoring import services
from scoring.models import LeadScore, ScoringRun
from tests.faults import db_fault
from tests.leads.factories import LeadFactory
from tests.scoring.factories import activity_rule, make_model
from tests.worker import celery_worker, own_queue, private_queue, wait_until


def _model():
    return make_model(
        [activity_rule(ActivityKind.WEBINAR, 30)], mql_threshold=50, mql_min_grade="D"
    )


def _hot_leads(n=8):
    """``n`` leads with two webinars each (60 points: over the MQL threshold), marked."""
    leads = [LeadFactory(stage=Stage.LEAD) for _ in range(n)]
    now = timezone.now()
    for lead in leads:
        for age in (1, 2):
            lead_services.activity_record(
                lead_id=lead.pk, kind=ActivityKind.WEBINAR, occurred_at=now - timedelta(minutes=age)
            )
    return leads


def _state(lead):
    lead = Lead.objects.get(pk=lead.pk)
    return lead.score, lead.stage


def _others_scored_and_moved(leads, bad):
    return {_state(lead) for lead in leads if lead.pk != bad.pk} == {(60, Stage.MQL)}


@pytest.mark.django_db
def test_a_lead_whose_score_cannot_be_written_is_set_aside_and_the_sweep_goes_on():
    _model()
    leads = _hot_leads()
    bad = leads[3]
    with db_fault(LeadScore, "lead_id", bad.pk, "injected: score row refused") as fault:
        result = services.score_dirty_sweep(batch_size=100)
        assert _others_scored_and_moved(leads, bad)
        assert _state(bad) == (0, Stage.LEAD)
        letter = DeadLetter.objects.get()
        assert (letter.kind, letter.item_id, letter.status) == ("scoring.sweep", bad.pk, "waiting")
        assert "injected: score row refused" in letter.error
        assert letter.next_retry_at > timezone.now()
        # its marks went with the batch: the next sweep does not take it (or anything) again
        assert not RescoreMark.objects.exists()
        assert result.scored == len(leads)
        assert services.score_dirty_sweep(batch_size=100).scored == 0
        assert deadletter.retry(letter_id=letter.pk, manual=True) is False  # still failing
        letter.refresh_from_db()
        assert letter.attempts == 1
        fault.remove()
    assert deadletter.retry_due(now=letter.next_retry_at) == (1, 0)
    assert _state(bad) == (60, Stage.MQL)
    assert not DeadLetter.objects.exists()


@pytest.mark.django_db
def test_a_threshold_move_that_raises_is_set_aside_with_the_score_kept():
    """The incident: one lead's move into MQL hit a unique-constraint error; the whole batch
    rolled back, its marks came back, and every later sweep failed on the same oldest marks."""
    _model()
    leads = _hot_leads()
    bad = leads[0]  # the oldest marks
    with db_fault(StageChange, "lead_id", bad.pk, "duplicate key value (injected)") as fault:
        services.score_dirty_sweep(batch_size=3)
        assert _others_scored_and_moved(leads, bad)
        assert _state(bad) == (60, Stage.LEAD)  # scored; only the move waits
        letter = DeadLetter.objects.get()
        assert (letter.kind, letter.item_id) == ("scoring.threshold", bad.pk)
        assert "duplicate key value (injected)" in letter.error
        assert not RescoreMark.objects.exists()
        fault.remove()
    assert deadletter.retry(letter_id=letter.pk, manual=True) is True
    assert _state(bad) == (60, Stage.MQL)
    assert StageChange.objects.filter(lead_id=bad.pk, to_stage=Stage.MQL).count() == 1
    assert not DeadLetter.objects.exists()


@pytest.mark.django_db
def test_a_full_rescore_sets_a_failing_lead_aside_and_finishes():
    _model()
    leads = _hot_leads(12)
    RescoreMark.objects.all().delete()  # only the rescore scores them
    bad = leads[7]
    run = ScoringRun.objects.get(kind=ScoringRun.Kind.RESCORE)
    with db_fault(LeadScore, "lead_id", bad.pk, "injected: rescore refused") as fault:
        run = services.run_execute(run_id=run.pk, batch_size=5)
        assert (run.status, run.error) == (ScoringRun.Status.DONE, "")
        assert run.done == len(leads)
        assert _others_scored_and_moved(leads, bad)
        assert run.moved == len(leads) - 1
        letter = DeadLetter.objects.get()
        assert (letter.kind, letter.item_id) == ("scoring.rescore", bad.pk)
        assert "injected: rescore refused" in letter.error
        fault.remove()
    assert deadletter.retry(letter_id=letter.pk, manual=True) is True
    assert _state(bad) == (60, Stage.MQL)
    assert not DeadLetter.objects.exists()


@pytest.mark.django_db
def test_a_fault_in_every_lead_is_not_blamed_on_the_leads():
    """A batch in which every lead fails is a fault of the batch: it fails as before, nothing is
    set aside and the marks stay for the next sweep."""
    _model()
    leads = _hot_leads(2)
    with (
        db_fault(LeadScore, "score", 60, "injected: every row"),
        pytest.raises(IntegrityError, match="injected: every row"),
    ):
        services.score_dirty_sweep(batch_size=10)
    assert not DeadLetter.objects.exists()
    assert set(RescoreMark.objects.values_list("lead_id", flat=True)) == {x.pk for x in leads}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_in_a_real_worker_one_failing_move_does_not_stall_the_sweep(live_celery):
    with (
        own_queue(live_celery, queue := private_queue("deadletter-test"), "*"),
        celery_worker("-Q", queue),
    ):
        _model()
        assert wait_until(
            lambda: ScoringRun.objects.filter(status=ScoringRun.Status.DONE).exists(), timeout=60
        )
        leads = [LeadFactory(stage=Stage.LEAD) for _ in range(6)]
        bad = leads[0]
        with db_fault(StageChange, "lead_id", bad.pk, "duplicate key value (injected)") as fault:
            now = timezone.now()
            for lead in leads:  # one commit per activity, each queues a sweep on commit
                for age in (1, 2):
                    lead_services.activity_record(
                        lead_id=lead.pk,
                        kind=ActivityKind.WEBINAR,
                        occurred_at=now - timedelta(minutes=age),
                    )
            assert wait_until(lambda: _others_scored_and_moved(leads, bad), timeout=60), [
                _state(lead) for lead in leads
            ]
            assert wait_until(lambda: DeadLetter.objects.filter(item_id=bad.pk).exists())
            assert wait_until(lambda: not RescoreMark.objects.exists())
            fault.remove()
        letter = DeadLetter.objects.get()
        assert letter.kind == "scoring.threshold"
        DeadLetter.objects.update(next_retry_at=timezone.now())  # (its backoff has passed)
        from leadflow.tasks import deadletters_retry_task

        deadletters_retry_task.delay()
        assert wait_until(lambda: not DeadLetter.objects.exists(), timeout=60)
    assert _state(bad) == (60, Stage.MQL)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_happy_path_stays_set_based_one_savepoint_per_batch():
    """Isolation costs nothing per lead when nothing fails: a sweep batch of 40 leads runs the
    same statements as one of 4 (with thresholds out of reach), among them one savepoint."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_model([activity_rule(ActivityKind.WEBINAR, 30)], mql_threshold=10**6)

    def sweep(n):
        _hot_leads(n)
        with CaptureQueriesContext(connection) as queries:
            assert services.score_dirty_sweep(batch_size=100).scored == n
        return [q["sql"].split()[0] for q in queries.captured_queries]

    small, large = sweep(4), sweep(40)
    assert small == large
    # the batch with leads and the empty one that ends the sweep are savepoints here (the test
    # runs in a transaction); isolation adds one, around the batch's write and thresholds
    assert large.count("SAVEPOINT") == 2 + 1

"""Training on the CRM's own outcomes, versioning, scoring in batches, incremental rescoring, API."""

import math
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Activity, ActivityKind, ExitReason, Lead, RescoreMark
from predictive import services
from predictive.features import features_for, outcome_counts, training_set
from predictive.ml import NotEnoughDataError
from predictive.models import PredictiveModel
from predictive.services import (
    load_model,
    predictive_score_all,
    predictive_score_changed,
    predictive_train,
)
from tests.leads.factories import UserFactory


@pytest.fixture(autouse=True)
def _small(settings):
    settings.PREDICTIVE_MIN_SAMPLES = 60
    settings.PREDICTIVE_MIN_PER_CLASS = 10
    settings.PREDICTIVE_CV_FOLDS = 3
    settings.PREDICTIVE_BATCH_SIZE = 50
    settings.PREDICTIVE_BOOST_ITERATIONS = 30
    services._loaded.clear()


def make_leads(n_closed: int, n_open: int = 20, seed: int = 0) -> list[Lead]:
    """Customers engage more (meetings, trials) and come by referral; the rest are
    disqualified. Open leads (Lead stage, recent) are scored, not trained on."""
    rng = np.random.default_rng(seed)
    now = timezone.now()
    leads, acts = [], []
    for i in range(n_closed + n_open):
        closed = i < n_closed
        won = closed and rng.random() < 0.4
        stage = Stage.CUSTOMER if won else Stage.DISQUALIFIED if closed else Stage.LEAD
        leads.append(
            Lead(
                email=f"p{seed}-{i}@x{i % 5}.example",
                stage=stage,
                stage_changed_at=now - timedelta(days=5),
                source=rng.choice(["referral", "ads"], p=[0.7, 0.3] if won else [0.2, 0.8]),
                industry="Software",
                country="DE",
            )
        )
    Lead.objects.bulk_create(leads)
    for lead in leads:
        won = lead.stage == Stage.CUSTOMER
        for _ in range(int(rng.poisson(4 if won else 1.5))):
            kind = rng.choice([ActivityKind.MEETING, ActivityKind.TRIAL, ActivityKind.PAGE_VIEW])
            at = now - timedelta(days=float(rng.uniform(6, 60)))
            acts.append(Activity(lead=lead, kind=kind, occurred_at=at))
    Activity.objects.bulk_create(acts)
    return leads


@pytest.mark.django_db
def test_outcomes_define_aged_out_and_ignore_open_leads(settings):
    make_leads(30, n_open=10)
    old = Lead.objects.filter(stage=Stage.LEAD).first()
    Lead.objects.filter(pk=old.pk).update(stage_changed_at=timezone.now() - timedelta(days=400))
    Activity.objects.filter(lead=old).delete()
    n, positive = outcome_counts("customer")
    assert n == 31  # 30 closed + 1 aged out (no touch for 400 days > 180)
    frame, y = training_set("customer")
    assert len(frame) == 31
    assert y.sum() == positive
    assert y[frame["lead_id"].to_numpy() == old.pk].tolist() == [0]


@pytest.mark.django_db
def test_exit_reasons_decide_which_exits_are_lost_and_which_are_not_trained_on():
    """A lead that left after acceptance is a lost outcome if its exit reason counts as lost
    (also from SAL now); a duplicate, bad data or a timing push is not trained on at all."""
    from leads.services import lead_move
    from tests.leads.factories import LeadFactory

    rep = UserFactory(role=Role.SALES_REP)
    moves = {
        "sal_lost": (Stage.SAL, "nurture", "lost_competitor"),
        "sql_not_ready": (Stage.SQL, "nurture", "not_ready"),
        "sql_dq_wrong": (Stage.SQL, "disqualified", "wrong_industry"),
        "sal_dq_duplicate": (Stage.SAL, "disqualified", "duplicate"),
    }
    ids = {}
    for name, (frm, to, code) in moves.items():
        lead = LeadFactory(stage=frm, owner=rep)
        lead_move(lead_id=lead.pk, to=to, actor=rep, source="ui", reason_code=code)
        ids[name] = lead.pk
    frame, y = training_set("customer")
    labels = dict(zip(frame["lead_id"].tolist(), y.tolist(), strict=True))
    assert labels.get(ids["sal_lost"]) == 0
    assert labels.get(ids["sql_dq_wrong"]) == 0
    assert ids["sql_not_ready"] not in labels
    assert ids["sal_dq_duplicate"] not in labels
    assert outcome_counts("customer") == (2, 0)
    # the reason's setting decides: a timing push made to count is a lost lead again
    ExitReason.objects.filter(code="not_ready").update(counts_as_lost=True)
    assert outcome_counts("customer") == (3, 0)


@pytest.mark.django_db
def test_features_count_only_activities_up_to_as_of():
    lead = make_leads(1, n_open=0)[0]
    Activity.objects.filter(lead=lead).delete()
    now = timezone.now()
    for days in (1, 10, 100):
        Activity.objects.create(
            lead=lead, kind=ActivityKind.WEBINAR, occurred_at=now - timedelta(days=days)
        )
    row = features_for([lead.pk], as_of=now - timedelta(days=5)).iloc[0]
    assert row["n_webinar"] == 2
    assert row["n_total"] == 2
    assert row["days_since_last"] == pytest.approx(5, abs=0.01)
    assert row["decayed_webinar"] == pytest.approx(0.5 ** (5 / 30) + 0.5 ** (95 / 30), abs=1e-3)


@pytest.mark.django_db
def test_training_refuses_too_little_data_and_creates_nothing():
    make_leads(20)
    with pytest.raises(NotEnoughDataError, match="Not enough closed outcomes to train: 20 leads"):
        predictive_train()
    assert not PredictiveModel.objects.exists()
    with pytest.raises(CommandError, match="Not enough closed outcomes"):
        call_command("train_predictive")


@pytest.mark.django_db
def test_train_score_retrain_and_incremental():
    make_leads(150)
    v1 = predictive_train()
    assert v1.is_active
    assert v1.n_samples == 150
    assert v1.metrics["chosen"] in v1.metrics["candidates"]
    now = timezone.now()
    result = predictive_score_all(now=now)
    assert result.scored == Lead.objects.count() == 170
    probs = list(Lead.objects.values_list("conversion_probability", flat=True))
    assert all(p is not None and 0 <= p <= 1 for p in probs)
    v1.refresh_from_db()
    assert len(v1.decile_edges) == 9
    assert v1.incremental_watermark is not None
    # open leads in a stage that can become MQL are marked for rescoring; closed ones are not
    marked = RescoreMark.objects.values_list("lead_id", flat=True)
    assert set(marked) == set(Lead.objects.filter(stage=Stage.LEAD).values_list("pk", flat=True))
    assert len(marked) == 20
    # an unchanged second pass writes nothing and marks nothing
    RescoreMark.objects.all().delete()
    assert predictive_score_all(now=now).written == 0
    assert not RescoreMark.objects.exists()

    # only the lead with a new activity is rescored incrementally
    lead = Lead.objects.filter(stage=Stage.LEAD).first()
    Activity.objects.create(lead=lead, kind=ActivityKind.TRIAL, occurred_at=timezone.now())
    assert predictive_score_changed().scored == 1

    v2 = predictive_train()
    v1.refresh_from_db()
    assert v2.pk > v1.pk
    assert v2.is_active
    assert not v1.is_active
    assert PredictiveModel.objects.filter(is_active=True).count() == 1
    services._loaded.clear()
    assert load_model(v1).algorithm == v1.algorithm  # the old version stays intact


@pytest.mark.django_db
def test_a_failed_retraining_leaves_the_current_version_untouched(monkeypatch):
    make_leads(120)
    v1 = predictive_train()
    before = bytes(PredictiveModel.objects.get(pk=v1.pk).artefact)

    original = PredictiveModel.save

    def crash_after_insert(self, *args, **kwargs):
        original(self, *args, **kwargs)  # the new row is written ...
        raise RuntimeError("disk full")  # ... and the process dies before commit

    monkeypatch.setattr(PredictiveModel, "save", crash_after_insert)
    with pytest.raises(RuntimeError):
        predictive_train()
    monkeypatch.undo()
    assert list(PredictiveModel.objects.values_list("pk", "is_active")) == [(v1.pk, True)]
    assert bytes(PredictiveModel.objects.get(pk=v1.pk).artefact) == before
    services._loaded.clear()
    assert load_model(PredictiveModel.objects.get(pk=v1.pk)) is not None


@pytest.mark.django_db
def test_api_train_refusal_permissions_and_lead_explanation(
    client, django_capture_on_commit_callbacks
):
    manager = UserFactory(username="mgr", role=Role.SALES_MANAGER)
    rep = UserFactory(username="rep1", role=Role.SALES_REP)
    make_leads(30)
    client.force_login(manager)
    response = client.post("/api/v1/predictive/models/train/", {}, content_type="application/json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_enough_data"

    make_leads(120, seed=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/predictive/models/train/",
            {"target": "customer"},
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    models = client.get("/api/v1/predictive/models/").json()["results"]
    assert len(models) == 1
    assert models[0]["is_active"]
    assert "artefact" not in models[0]

    lead = Lead.objects.filter(stage=Stage.LEAD).first()
    body = client.get(f"/api/v1/predictive/leads/{lead.pk}/").json()
    assert 0 <= body["probability"] <= 1
    assert 1 <= body["decile"] <= 10
    total = body["base_log_odds"] + sum(body["contributions"].values())
    assert total == pytest.approx(
        math.log(body["probability"] / (1 - body["probability"])), abs=1e-3
    )

    client.force_login(rep)
    response = client.post("/api/v1/predictive/models/train/", {}, content_type="application/json")
    assert response.status_code == 403
    assert client.get(f"/api/v1/predictive/leads/{lead.pk}/").status_code == 404  # not his lead


@pytest.mark.postgres
@pytest.mark.django_db
def test_batch_write_is_two_statements_per_batch(django_assert_max_num_queries):
    make_leads(10, n_open=0)
    ids = list(Lead.objects.values_list("pk", flat=True))
    with django_assert_max_num_queries(2):  # the rescoring marks, then the probabilities
        written = services._write_batch(ids, np.full(len(ids), 0.3), timezone.now())
    assert written == 10
    assert connection.vendor == "postgresql"


def copies(model, n):
    return [
        PredictiveModel(
            target=model.target,
            algorithm=model.algorithm,
            n_samples=model.n_samples,
            n_positive=model.n_positive,
            sklearn_version=model.sklearn_version,
            artefact=bytes(model.artefact),
            artefact_sha256=model.artefact_sha256,
        )
        for _ in range(n)
    ]


@pytest.mark.django_db
def test_old_versions_beyond_the_retention_are_deleted(settings):
    settings.PREDICTIVE_KEEP_VERSIONS = 3
    make_leads(80)
    first = predictive_train()
    rows = [services._activate(row) for row in copies(first, 4)]
    kept = list(PredictiveModel.objects.order_by("pk").values_list("pk", "is_active"))
    assert kept == [(rows[1].pk, False), (rows[2].pk, False), (rows[3].pk, True)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_activations_leave_exactly_one_active_version():
    """Two trainings finishing at once: both versions are stored, exactly one is active."""
    import threading

    from django.db import connections

    make_leads(80)
    model = predictive_train()
    rows = copies(model, 2)
    barrier = threading.Barrier(2)
    errors = []

    def activate(row):
        try:
            barrier.wait()
            services._activate(row)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=activate, args=(row,)) for row in rows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert PredictiveModel.objects.count() == 3
    assert PredictiveModel.objects.filter(is_active=True).count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_training_requested_over_the_api_runs_in_a_real_worker(client, live_celery, monkeypatch):
    from tests.worker import celery_worker, own_queue, private_queue, wait_until

    for name, value in {
        "MIN_SAMPLES": "60",
        "MIN_PER_CLASS": "10",
        "CV_FOLDS": "3",
        "BOOST_ITERATIONS": "30",
    }.items():
        monkeypatch.setenv(f"LEADFLOW_PREDICTIVE_{name}", value)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    make_leads(120)
    client.force_login(UserFactory(username="mgr2", role=Role.SALES_MANAGER))
    # A queue of our own: a worker left behind by another test must not take the task.
    with (
        own_queue(live_celery, queue := private_queue("predictive-test"), "predictive.tasks.*"),
        celery_worker("-Q", queue),
    ):
        response = client.post(
            "/api/v1/predictive/models/train/", {}, content_type="application/json"
        )
        assert response.status_code == 202
        assert wait_until(
            lambda: PredictiveModel.objects.filter(
                is_active=True, scored_at__isnull=False
            ).exists(),
            timeout=120,
        )
    assert not Lead.objects.filter(conversion_probability__isnull=True).exists()


@pytest.mark.django_db
def test_training_is_a_job_with_progress_cancel_and_run_again(
    client, django_capture_on_commit_callbacks, monkeypatch
):
    from predictive.models import TrainingRun

    manager = UserFactory(username="mgr3", role=Role.SALES_MANAGER)
    make_leads(120)
    leads = Lead.objects.count()
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/predictive/models/train/", {}, content_type="application/json"
        )
    assert response.status_code == 202
    body = client.get(f"/api/v1/predictive/training-runs/{response.json()['run']}/").json()
    assert (body["status"], body["phase"], body["done"], body["total"], body["percent"]) == (
        "done",
        "scoring",
        leads,
        leads,
        100,
    )
    # cancel while scoring: the pass stops at the next batch boundary
    calls = {"n": 0}
    real = services._score_ids

    def cancel_after_the_first_batch(model, ids, now):
        calls["n"] += 1
        if calls["n"] == 2:
            TrainingRun.objects.filter(status="running").update(cancel_requested=True)
        return real(model, ids, now)

    monkeypatch.setattr(services, "_score_ids", cancel_after_the_first_batch)
    with django_capture_on_commit_callbacks(execute=True):
        run_id = client.post(
            "/api/v1/predictive/models/train/", {}, content_type="application/json"
        ).json()["run"]
    run = TrainingRun.objects.get(pk=run_id)
    assert (run.status, run.done, run.total) == ("cancelled", 100, leads)
    assert f"Cancelled after 100 of {leads} leads scored" in run.error
    assert client.post(f"/api/v1/predictive/training-runs/{run_id}/cancel/").status_code == 409
    monkeypatch.setattr(services, "_score_ids", real)
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"/api/v1/predictive/training-runs/{run_id}/run-again/")
    assert again.status_code == 202
    run.refresh_from_db()
    assert (run.status, run.done) == ("done", leads)
    rep = UserFactory(username="rep9", role=Role.SALES_REP)
    client.force_login(rep)
    assert client.post(f"/api/v1/predictive/training-runs/{run_id}/run-again/").status_code == 403


@pytest.mark.django_db
def test_a_refused_nightly_training_is_a_failed_run_with_the_reason():
    from predictive.models import TrainingRun
    from predictive.tasks import predictive_train_task

    make_leads(20)
    assert predictive_train_task() is None
    run = TrainingRun.objects.get()
    assert run.status == "failed"
    assert "Not enough closed outcomes" in run.error


@pytest.mark.django_db
def test_a_lead_that_fails_in_a_scoring_pass_is_set_aside_and_the_pass_finishes():
    """One lead whose probability cannot be written (a trigger refuses its row) does not stop
    the pass (issue 22): the others are scored, it waits as a dead letter, a retry scores it."""
    from leadflow import deadletter
    from leadflow.models import DeadLetter
    from tests.faults import db_fault

    leads = make_leads(150)
    predictive_train()
    bad = leads[-1]
    with db_fault(Lead, "id", bad.pk, "injected: lead row refused") as fault:
        result = predictive_score_all()
        assert result.scored == 169
        assert Lead.objects.filter(conversion_probability__isnull=True).get().pk == bad.pk
        letter = DeadLetter.objects.get()
        assert (letter.kind, letter.item_id) == ("predictive.score", bad.pk)
        assert "injected: lead row refused" in letter.error
        fault.remove()
    assert deadletter.retry(letter_id=letter.pk, manual=True) is True
    assert Lead.objects.get(pk=bad.pk).conversion_probability is not None
    assert not DeadLetter.objects.exists()

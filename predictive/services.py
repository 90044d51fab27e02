"""Training, activation and scoring. Every write of the predictive app goes through here."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from leadflow import deadletter, jobs
from leadflow.models import User
from leads.lifecycle import Stage
from leads.models import Activity, ExitReason, Lead, RescoreMark, StageChange
from predictive import features
from predictive.ml import PredictiveError, TrainedModel, decile_edges, fit_best, predict_proba
from predictive.models import PredictiveModel, Target, TrainingRun

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# Stages from which a lead can become an MQL: only there can a new probability change what
# scoring's MQL gate decides, so only there is a changed lead marked for rescoring.
GATED_STAGES = (Stage.LEAD.value, Stage.NURTURE.value)

_loaded: dict[int, TrainedModel] = {}
DEAD_LETTER_KIND = "predictive.score"  # a lead a scoring batch set aside (leadflow/deadletter)


class ArtefactError(PredictiveError):
    code = "predictive_artefact_invalid"
    status = 500


def _target(target: str | None) -> str:
    value = target or settings.PREDICTIVE_TARGET
    if value not in Target.values:
        raise PredictiveError(
            _("Unknown target %(target)s; expected one of %(targets)s.")
            % {"target": repr(value), "targets": ", ".join(Target.values)},
            field="target",
        )
    return value


def predictive_check_data(*, target: str | None = None) -> tuple[int, int]:
    """Raise the minimum-data / degenerate-target error now, without training.

    Lower bounds from stage counts (index-only) come first: when they already pass, the exact
    count (which looks for aged-out leads: ~8 s on 1M leads) is skipped.
    """
    import numpy as np

    from predictive.ml import check_training_data

    target = _target(target)
    rule = {
        "min_samples": settings.PREDICTIVE_MIN_SAMPLES,
        "min_per_class": max(settings.PREDICTIVE_MIN_PER_CLASS, settings.PREDICTIVE_CV_FOLDS),
    }
    won = [Stage.CUSTOMER] if target == Target.CUSTOMER else [Stage.SQL, Stage.CUSTOMER]
    positives = Lead.objects.filter(stage__in=won).count()
    # less those disqualified with an exit reason that does not count as lost (not trained on)
    negatives = Lead.objects.filter(stage=Stage.DISQUALIFIED).count() - (
        StageChange.objects.filter(
            to_stage=Stage.DISQUALIFIED,
            reason_code__in=ExitReason.objects.filter(counts_as_lost=False).values("code"),
        ).count()
    )
    if (
        positives + negatives >= rule["min_samples"]
        and min(positives, negatives) >= rule["min_per_class"]
    ):
        return positives + negatives, positives
    n, positives = features.outcome_counts(target)
    check_training_data(np.array([1] * positives + [0] * (n - positives)), **rule)
    return n, positives


def predictive_train(*, target: str | None = None) -> PredictiveModel:
    """Train a new version on the closed outcomes and make it the active one.

    The fit runs outside any transaction; the new row (with its artefact) is inserted and
    activated in one short transaction, so readers see either the old version or the complete
    new one, never a half-written model. A failure anywhere leaves the current version active.
    """
    import sklearn

    target = _target(target)
    started = time.perf_counter()
    frame, y = features.training_set(target, limit=settings.PREDICTIVE_MAX_TRAINING_ROWS)
    fetched = time.perf_counter()
    model = fit_best(
        frame,
        y,
        features.SPEC,
        folds=settings.PREDICTIVE_CV_FOLDS,
        min_samples=settings.PREDICTIVE_MIN_SAMPLES,
        min_per_class=settings.PREDICTIVE_MIN_PER_CLASS,
        boost_iterations=settings.PREDICTIVE_BOOST_ITERATIONS,
    )
    fitted = time.perf_counter()
    blob = model.dumps()
    metrics = {
        **model.metrics,
        "seconds_features": round(fetched - started, 3),
        "seconds_fit": round(fitted - fetched, 3),
    }
    row = _activate(
        PredictiveModel(
            target=target,
            algorithm=model.algorithm,
            metrics=metrics,
            features=[
                {"name": n, "kind": "numeric" if n in features.SPEC.numeric else "categorical"}
                for n in features.SPEC.names
            ],
            params={
                "target": target,
                "half_life_days": settings.PREDICTIVE_HALF_LIFE_DAYS,
                "aged_out_days": settings.PREDICTIVE_AGED_OUT_DAYS,
                "reference_lead": model.reference,
            },
            n_samples=len(y),
            n_positive=int(y.sum()),
            sklearn_version=sklearn.__version__,
            artefact=blob,
            artefact_sha256=hashlib.sha256(blob).hexdigest(),
        )
    )
    _loaded[row.pk] = model
    log.info("predictive model v%s trained: %s", row.pk, json.dumps(metrics)[:500])
    return row


def _activate(row: PredictiveModel) -> PredictiveModel:
    try:
        return _activate_once(row)
    except IntegrityError:  # a concurrent training activated its version first: go after it
        row.pk = None
        return _activate_once(row)


@transaction.atomic
def _activate_once(row: PredictiveModel) -> PredictiveModel:
    # Lock the current active row, so concurrent trainings activate one after the other.
    current = [m.pk for m in PredictiveModel.objects.select_for_update().filter(is_active=True)]
    PredictiveModel.objects.filter(pk__in=current).update(is_active=False)
    row.is_active = True
    row.save()
    # Retention: each artefact is a few MB and a version is trained every night.
    keep = max(int(settings.PREDICTIVE_KEEP_VERSIONS), 1)
    stale = PredictiveModel.objects.filter(is_active=False).order_by("-pk")[keep - 1 :]
    PredictiveModel.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    return row


def load_model(row: PredictiveModel) -> TrainedModel:
    """The fitted model of a version, checked against its checksum (cached per process)."""
    import sklearn

    if row.pk in _loaded:
        return _loaded[row.pk]
    blob = bytes(row.artefact)
    if hashlib.sha256(blob).hexdigest() != row.artefact_sha256:
        raise ArtefactError(
            _("Model v%(version)s's artefact does not match its checksum.") % {"version": row.pk}
        )
    if row.sklearn_version != sklearn.__version__:
        raise ArtefactError(
            _(
                "Model v%(version)s was trained with scikit-learn %(trained)s; this process runs "
                "%(running)s. Retrain (manage.py train_predictive)."
            )
            % {"version": row.pk, "trained": row.sklearn_version, "running": sklearn.__version__}
        )
    model = TrainedModel.loads(blob)
    _loaded[row.pk] = model
    return model


@dataclass(frozen=True)
class ScoreResult:
    model_id: int
    scored: int
    written: int  # rows whose stored probability changed
    seconds: float


def _write_batch(ids: Sequence[int], probabilities: np.ndarray, now: datetime) -> int:
    """One UPDATE for the whole batch (unchanged rows skipped) and the rescoring marks that
    GATED_STAGES calls for; returns how many probabilities changed."""
    delta = float(settings.PREDICTIVE_DIRTY_DELTA)
    values = [round(float(p), 4) for p in probabilities]
    gated = ", ".join(f"'{s}'" for s in GATED_STAGES)
    t, marks = Lead._meta.db_table, RescoreMark._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    if connection.vendor == "postgresql":
        source = "SELECT unnest(%s::bigint[]) AS id, unnest(%s::float8[]) AS p"
        batch: list[Any] = [list(ids), values]
        changed = f"{t}.conversion_probability IS DISTINCT FROM v.p"
    else:
        source = (
            "SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS p "
            "FROM json_each(%s)"
        )
        batch = [json.dumps([[int(i), p] for i, p in zip(ids, values, strict=True)])]
        changed = f"{t}.conversion_probability IS NOT v.p"
    # gated leads whose probability moved enough are queued for rescoring (before the UPDATE,
    # which would hide the old value)
    mark = (
        f"INSERT INTO {marks} (lead_id, marked_at) SELECT {t}.id, %s "  # noqa: S608
        f"FROM {t} JOIN ({source}) v ON {t}.id = v.id WHERE {t}.stage IN ({gated}) "
        f"AND ({t}.conversion_probability IS NULL OR abs({t}.conversion_probability - v.p) >= %s)"
    )
    update = (
        f"UPDATE {t} SET conversion_probability = v.p "  # noqa: S608
        f"FROM ({source}) v WHERE {t}.id = v.id AND {changed}"
    )
    with connection.cursor() as cursor:
        cursor.execute(mark, [at, *batch, delta])
        cursor.execute(update, batch)
        return max(int(cursor.rowcount), 0)


def _score_ids(model: TrainedModel, ids: Sequence[int], now: datetime) -> tuple[np.ndarray, int]:
    """Score a batch in one transaction; a lead that makes it fail is set aside (dead letter),
    the rest is written."""
    import numpy as np

    parts = deadletter.isolate(
        list(ids), lambda part: _score_part(model, part, now), kind=DEAD_LETTER_KIND
    )
    if not parts:
        return np.array([]), 0
    return np.concatenate([p for p, _ in parts]), sum(n for _, n in parts)


def _score_part(model: TrainedModel, ids: Sequence[int], now: datetime) -> tuple[np.ndarray, int]:
    frame = features.features_for(ids, as_of=now)
    if frame.empty:
        import numpy as np

        return np.array([]), 0
    proba = predict_proba(model, frame)
    return proba, _write_batch(frame["lead_id"].astype(int).tolist(), proba, now)


def lead_retry(lead_id: int) -> None:
    """A lead set aside by a scoring batch: score it with the active version now."""
    row = active_model()
    if row is not None:
        _score_ids(load_model(row), [lead_id], timezone.now())


def active_model() -> PredictiveModel | None:
    return PredictiveModel.objects.filter(is_active=True).first()


def predictive_score_all(
    *,
    model_id: int | None = None,
    batch_size: int | None = None,
    now: datetime | None = None,
    progress: Callable[[int], object] | None = None,
) -> ScoreResult:
    """Score every lead with the given (default: active) version, in id-ordered batches;
    ``progress(n)`` after each (a training run records it, and may stop the pass there)."""
    import numpy as np

    row = PredictiveModel.objects.get(pk=model_id) if model_id else active_model()
    if row is None:
        raise PredictiveError(_("There is no trained model yet: run manage.py train_predictive."))
    model = load_model(row)
    size = batch_size or settings.PREDICTIVE_BATCH_SIZE
    started, now = time.perf_counter(), now or timezone.now()
    last, scored, written, parts = 0, 0, 0, []
    while True:
        ids = list(
            Lead.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]
        )
        if not ids:
            break
        proba, n_written = _score_ids(model, ids, now)
        parts.append(proba)
        scored += len(proba)
        written += n_written
        last = ids[-1]
        if progress is not None:
            progress(len(ids))
    edges = decile_edges(np.concatenate(parts)) if parts else []
    PredictiveModel.objects.filter(pk=row.pk).update(
        decile_edges=edges, scored_at=timezone.now(), incremental_watermark=now
    )
    return ScoreResult(row.pk, scored, written, time.perf_counter() - started)


def predictive_score_changed(*, batch_size: int | None = None) -> ScoreResult | None:
    """Rescore leads whose row changed or who got activities since the last pass."""
    row = active_model()
    if row is None or row.incremental_watermark is None:
        return None  # nothing trained, or the full pass after training has not finished yet
    model = load_model(row)
    size = batch_size or settings.PREDICTIVE_BATCH_SIZE
    started, now, since = time.perf_counter(), timezone.now(), row.incremental_watermark
    changed = set(
        Lead.objects.filter(Q(updated_at__gte=since) | Q(created_at__gte=since)).values_list(
            "pk", flat=True
        )
    )
    changed |= set(
        Activity.objects.filter(received_at__gte=since).values_list("lead_id", flat=True)
    )
    ordered, scored, written = sorted(changed), 0, 0
    for start in range(0, len(ordered), size):
        proba, n_written = _score_ids(model, ordered[start : start + size], now)
        scored += len(proba)
        written += n_written
    PredictiveModel.objects.filter(pk=row.pk, incremental_watermark=since).update(
        incremental_watermark=now
    )
    return ScoreResult(row.pk, scored, written, time.perf_counter() - started)


# --- training as a job (leadflow/jobs.py): progress, heartbeat, cancel, run again ---------------


def predictive_training_start(
    *, target: str | None = None, actor: User | None = None
) -> TrainingRun:
    """Check the data now (a refusal is an error for the caller), queue a training run."""
    predictive_check_data(target=target)
    with transaction.atomic():
        run = TrainingRun.objects.create(target=_target(target), created_by=actor)
        transaction.on_commit(lambda: _enqueue_training(run.pk))
    return run


def _enqueue_training(run_id: int) -> None:
    from predictive.tasks import predictive_train_task

    predictive_train_task.delay(run_id=run_id)


def predictive_training_run(*, run_id: int) -> TrainingRun:
    """Train (outside any transaction), then score every lead, recording progress and a
    heartbeat per scoring batch; a refusal or error fails the run with the reason."""
    from predictive.ml import DegenerateTargetError, NotEnoughDataError

    attempt = jobs.job_claim(TrainingRun, run_id)
    if attempt is None:
        return TrainingRun.objects.get(pk=run_id)
    target = TrainingRun.objects.get(pk=run_id).target
    leads = Lead.objects.count()

    def phase(name: str, **fields: Any) -> Callable[[TrainingRun], int]:
        def set_phase(run: TrainingRun) -> int:
            run.phase, run.total = name, leads
            for key, value in fields.items():
                setattr(run, key, value)
            return 0

        return set_phase

    def scored(n: int) -> None:
        jobs.job_progress(TrainingRun, run_id, attempt, n)  # the batch committed its scores

    status, error = TrainingRun.Status.DONE, ""
    try:
        jobs.job_batch(TrainingRun, run_id, attempt, phase(TrainingRun.Phase.TRAINING))
        row = predictive_train(target=target)
        jobs.job_batch(TrainingRun, run_id, attempt, phase(TrainingRun.Phase.SCORING, model=row))
        predictive_score_all(model_id=row.pk, progress=scored)
    except jobs.Stop:
        return TrainingRun.objects.get(pk=run_id)
    except (NotEnoughDataError, DegenerateTargetError) as exc:  # the current version stays
        log.warning("predictive training refused: %s", exc.message)
        status, error = TrainingRun.Status.FAILED, exc.message
    except Exception as exc:
        log.exception("predictive training %s failed", run_id)
        status, error = (
            TrainingRun.Status.FAILED,
            jobs.failure_reason(exc, TrainingRun.objects.get(pk=run_id)),
        )
    jobs.job_finish(TrainingRun, run_id, attempt, status, error)
    return TrainingRun.objects.get(pk=run_id)


def predictive_training_cancel(
    *, run_id: int, actor: User | None, request: Any = None
) -> TrainingRun:
    """A queued training is cancelled at once; a running one stops at its next step or batch
    (a fit in progress finishes first: scikit-learn cannot be interrupted safely)."""
    return jobs.job_cancel(TrainingRun, run_id, actor=actor, request=request)


@transaction.atomic
def predictive_training_again(
    *, run_id: int, actor: User | None, request: Any = None
) -> TrainingRun:
    """Run a failed or cancelled training again, from the start."""
    run = jobs.job_resume(TrainingRun, run_id, actor=actor, request=request)
    run.phase = TrainingRun.Phase.WAITING
    run.save(update_fields=["phase"])
    transaction.on_commit(lambda: _enqueue_training(run.pk))
    return run

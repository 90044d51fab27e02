"""Background work: nightly (and on-demand) training, then a full scoring pass; incremental
rescoring of changed leads every few minutes. Heavy libraries load inside the tasks only."""

import logging

from celery import shared_task
from django.db import OperationalError

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def predictive_train_task(run_id: int | None = None, target: str | None = None) -> int | None:
    """Run a queued TrainingRun (the API's "train"), or nightly a new one: train a version,
    then score every lead with it. A refusal or error fails the run with its reason."""
    from predictive.models import TrainingRun
    from predictive.services import _target, predictive_training_run

    if run_id is None:
        run_id = TrainingRun.objects.create(target=_target(target)).pk
    run = predictive_training_run(run_id=run_id)
    return run.model_id


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def predictive_score_all_task(model_id: int | None = None) -> int:
    from predictive.services import predictive_score_all

    return predictive_score_all(model_id=model_id).scored


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def predictive_score_changed_task() -> int:
    from predictive.services import predictive_score_changed

    result = predictive_score_changed()
    return result.scored if result else 0

"""Background work: nightly (and on-demand) training, then a full scoring pass; incremental
rescoring of changed leads every few minutes. Heavy libraries load inside the tasks only."""

import logging

from celery import shared_task
from django.db import OperationalError

log = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def predictive_train_task(target: str | None = None) -> int | None:
    """Train a new version, then score every lead with it. Refusals are logged, not retried."""
    from predictive.ml import DegenerateTargetError, NotEnoughDataError
    from predictive.services import predictive_score_all, predictive_train

    try:
        row = predictive_train(target=target)
    except (NotEnoughDataError, DegenerateTargetError) as exc:  # the current version stays
        log.warning("predictive training refused: %s", exc.message)
        return None
    predictive_score_all(model_id=row.pk)
    return row.pk


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def predictive_score_all_task(model_id: int | None = None) -> int:
    from predictive.services import predictive_score_all

    return predictive_score_all(model_id=model_id).scored


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def predictive_score_changed_task() -> int:
    from predictive.services import predictive_score_changed

    result = predictive_score_changed()
    return result.scored if result else 0

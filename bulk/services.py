"""Submit and run bulk actions.

A submission snapshots the selection (ids, sorted: leads are locked in id order, so two bulk
runs cannot deadlock) into a :class:`BulkJob`. Up to ``INLINE_MAX`` selected leads run in the
request; more, or "all N matching" the filters, run as a Celery job with the shared job
mechanics (``leadflow.jobs``: progress, cancel, resume, stale detection). Either way each lead
is acted on in its own savepoint and gets one outcome row — applied, already so, refused (why)
or failed (the error) — committed with the job's progress in the same transaction: a lead
that fails never rolls back the others, and none is dropped without a row.
"""

import logging
import uuid
from collections.abc import Collection, Mapping
from functools import partial

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bulk.actions import ACTIONS, BulkAction
from bulk.models import BulkJob, BulkOutcome
from leadflow import i18n, jobs
from leadflow.audit import audit_record
from leadflow.batchscope import Scope, batch_scope
from leadflow.exceptions import DomainError, PermissionDeniedError
from leadflow.models import User
from leads.models import Lead
from leads.selectors import lead_actable_qs, lead_visible_qs

log = logging.getLogger(__name__)

INLINE_MAX = 200  # more selected leads than this run as a background job (as "all matching")
BULK_MAX = 100_000  # the most leads one submission may name
BATCH_SIZE = 100  # leads per committed batch of a job

Result = BulkOutcome.Result


def action_get(code: str) -> BulkAction:
    action = ACTIONS.get(code)
    if action is None:
        raise ValidationError({"action": _("Unknown bulk action %(code)s.") % {"code": repr(code)}})
    return action


def bulk_submit(
    *,
    actor: User,
    action_code: str,
    data: Mapping[str, str],
    token: uuid.UUID,
    lead_ids: Collection[int] = (),
    matching: QuerySet[Lead] | None = None,
    selection: str = "",
    request: HttpRequest | None = None,
) -> BulkJob:
    """Start ``action_code`` on ``lead_ids`` (a selection) or every lead of ``matching`` (the
    page's filters, already narrowed to what ``actor`` sees). The same ``token`` twice (a
    double submit) returns the first job and does nothing more."""
    action = action_get(action_code)
    if not action.permitted(actor):
        raise PermissionDeniedError(action.refusal())
    existing = BulkJob.objects.filter(token=token).first()
    if existing is not None:
        return _same_submitter(existing, actor)
    params = action.clean(data, actor)
    if matching is not None:
        ids = list(matching.order_by("pk").values_list("pk", flat=True)[: BULK_MAX + 1])
    else:
        ids = sorted(set(lead_ids))
    if not ids:
        raise ValidationError({"lead": _("Select at least one lead.")})
    if len(ids) > BULK_MAX:
        raise ValidationError(
            {
                "lead": _("Act on at most %(max)s leads at once; narrow the filters.")
                % {"max": number_format(BULK_MAX, force_grouping=True)}
            }
        )
    background = matching is not None or len(ids) > INLINE_MAX
    try:
        with transaction.atomic():
            job = BulkJob.objects.create(
                token=token,
                action=action.code,
                params=params,
                lead_ids=ids,
                total=len(ids),
                description=action.describe(params)[:300],
                selection=(selection or _selected(len(ids)))[:300],
                in_background=background,
                created_by=actor,
            )
            audit_record(
                action="bulk.submit",
                actor=actor,
                target_type="bulk",
                target_id=job.pk,
                details={
                    "action": job.action,
                    "params": params,
                    "leads": len(ids),
                    "selection": job.selection,
                    "background": background,
                },
                request=request,
            )
            if background:
                transaction.on_commit(partial(enqueue, job.pk))
    except IntegrityError:  # the same form submitted twice at the same moment
        return _same_submitter(BulkJob.objects.get(token=token), actor)
    if not background:
        return bulk_run(job_id=job.pk)
    return job


def _selected(count: int) -> str:
    # Translators: the English is the same for one and many; translate every plural form.
    return ngettext("%(count)s selected", "%(count)s selected", count) % {"count": count}


def _same_submitter(job: BulkJob, actor: User) -> BulkJob:
    if job.created_by_id != actor.pk:
        raise ValidationError({"token": _("This form was already submitted; reload the page.")})
    return job


def enqueue(job_id: int) -> None:
    from bulk.tasks import bulk_run_task

    bulk_run_task.delay(job_id)


def bulk_run(*, job_id: int) -> BulkJob:
    """Run (or resume) a job: each batch commits its leads' changes, their outcome rows, the
    counters and ``done`` together. A repeated task for a claimed or finished job is a no-op."""
    attempt = jobs.job_claim(BulkJob, job_id)
    if attempt is None:
        return BulkJob.objects.get(pk=job_id)
    job = BulkJob.objects.select_related("created_by").get(pk=job_id)
    action = ACTIONS.get(job.action)
    if action is None or job.created_by is None:
        why = (
            _("Not run: its user was deleted.")
            if action
            else _("Not run: the action %(action)s no longer exists.")
            % {"action": repr(job.action)}
        )
        return _finish(job_id, attempt, BulkJob.Status.FAILED, why)
    actor = job.created_by
    work = partial(_apply_batch, action=action, actor=actor)
    # the outcome messages and the failure reason are stored for the submitter, who reads them
    # in their language (a background job has no request to take it from)
    with i18n.for_user(actor):
        try:
            while job.done < job.total:
                jobs.job_batch(BulkJob, job_id, attempt, work, what=f"bulk {job_id}")
                job.refresh_from_db(fields=["done", "total"])
        except jobs.Stop:
            return BulkJob.objects.get(pk=job_id)
        except Exception as exc:  # retries ran out, or a bug outside one lead: the page says so
            log.exception("bulk %s failed", job_id)
            job.refresh_from_db()
            return _finish(job_id, attempt, BulkJob.Status.FAILED, jobs.failure_reason(exc, job))
        return _finish(job_id, attempt, BulkJob.Status.DONE)


def _finish(job_id: int, attempt: int, status: str, error: str = "") -> BulkJob:
    jobs.job_finish(BulkJob, job_id, attempt, status, error)
    return BulkJob.objects.get(pk=job_id)


def _apply_batch(job: BulkJob, *, action: BulkAction, actor: User) -> int:
    """The next ``BATCH_SIZE`` leads of the locked ``job``: one savepoint and one outcome each.

    The batch runs in a ``batch_scope``: configuration the services read (SLA policy,
    assignment rules, webhook subscriptions, ...) is read once per batch, and the writes they
    may do for all leads at once (reports rollup, outbox rows) are done at the end of the batch,
    for the leads that went through. Should those fail, the batch is rolled back and run again
    with everything done per lead, so the lead they belong to fails alone."""
    ids = job.lead_ids[job.done : job.done + BATCH_SIZE]
    actor = User.objects.prefetch_related("groups").get(pk=actor.pk)  # roles as they are now
    permitted = actor.is_active and action.permitted(actor)
    visible = set(lead_visible_qs(user=actor).filter(pk__in=ids).values_list("pk", flat=True))
    actable = set(lead_actable_qs(user=actor).filter(pk__in=ids).values_list("pk", flat=True))
    run = partial(
        _apply_leads,
        job,
        ids,
        action=action,
        actor=actor,
        permitted=permitted,
        visible=visible,
        actable=actable,
    )
    try:
        with transaction.atomic(), batch_scope() as scope:
            outcomes = run(scope)
            scope.flush()
    except Exception:
        log.warning("bulk %s: the batch's deferred writes failed; redoing it lead by lead", job.pk)
        with batch_scope(defer=False) as scope:
            outcomes = run(scope)
    # a resumed batch whose rows were committed is skipped by ``done``; conflicts cannot happen
    BulkOutcome.objects.bulk_create(outcomes)
    counts = {r: sum(1 for o in outcomes if o.result == r) for r in Result.values}
    job.applied += counts[Result.APPLIED] + counts[Result.UNCHANGED]
    job.refused += counts[Result.REFUSED]
    job.failed += counts[Result.FAILED]
    return len(ids)


def _apply_leads(
    job: BulkJob,
    ids: list[int],
    scope: Scope,
    *,
    action: BulkAction,
    actor: User,
    permitted: bool,
    visible: set[int],
    actable: set[int],
) -> list[BulkOutcome]:
    outcomes = []
    for lead_id in ids:
        result, message, label = _apply_one(
            action,
            actor,
            lead_id,
            scope=scope,
            params=job.params,
            permitted=permitted,
            visible=visible,
            actable=actable,
        )
        outcomes.append(
            BulkOutcome(
                job=job, lead_id=lead_id, lead_label=label[:300], result=result, message=message
            )
        )
    return outcomes


def _apply_one(
    action: BulkAction,
    actor: User,
    lead_id: int,
    *,
    scope: Scope,
    params: dict[str, object],
    permitted: bool,
    visible: set[int],
    actable: set[int],
) -> tuple[str, str, str]:
    """(result, message, lead label) for one lead; never raises."""
    if not permitted:
        return Result.REFUSED, action.refusal(no_longer=True), ""
    if lead_id not in visible:
        return Result.REFUSED, _("There is no such lead you can see (deleted or not yours)."), ""
    label = ""
    try:
        with scope.item(), transaction.atomic():
            lead = (
                Lead.objects.select_for_update(no_key=True, of=("self",))
                .select_related("owner")
                .get(pk=lead_id)
            )
            label = lead.display_name
            if lead_id not in actable:
                return (
                    Result.REFUSED,
                    _(
                        "It belongs to a team you do not manage: only its team's manager may "
                        "change it."
                    ),
                    label,
                )
            result = action.apply(lead=lead, actor=actor, params=params)
    except Lead.DoesNotExist:
        return Result.REFUSED, _("The lead was deleted meanwhile."), label
    except DomainError as exc:
        return Result.REFUSED, exc.message, label
    except ValidationError as exc:
        return Result.REFUSED, " ".join(exc.messages), label
    except PermissionDenied as exc:
        return Result.REFUSED, str(exc) or _("Permission denied."), label
    except Exception as exc:  # a fault in this lead only: record it and go on with the rest
        log.warning("bulk %s on lead %s failed: %r", action.code, lead_id, exc)
        return Result.FAILED, f"{type(exc).__name__}: {exc}"[:1000], label
    message = _("Already so; nothing changed.") if result == Result.UNCHANGED else ""
    return result, message, label

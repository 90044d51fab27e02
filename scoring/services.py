"""Every write of the scoring app: models and rules (validated at save), publishing, recompute
runs, the dirty-lead sweep, single-lead rescoring and threshold crossings.

Layer: ``scoring → leads → leadflow``. Threshold crossings move leads only through the lifecycle
services of ``leads.services`` (as the system actor, source "scoring"), so StageChange rows are
written and handover opens handovers for new MQLs in the same transaction.
"""

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from companies.events import QualifiedAccount, accounts_qualified
from companies.models import Account, AccountRescoreMark
from leadflow import deadletter, jobs
from leadflow.audit import audit_record
from leadflow.batchscope import batch_scope
from leadflow.exceptions import DomainError, NotFoundError
from leadflow.models import User
from leads import services as lead_services
from leads.customfields import lead_fields
from leads.lifecycle import Stage
from leads.models import ActivityKind, Lead, RescoreMark, StageChange
from scoring import account_dry_run, account_engine, dry_run_leads, engine
from scoring import account_rules as ar
from scoring import rules as r
from scoring.dry_run_leads import Mover
from scoring.models import (
    AccountScore,
    DryRunLead,
    LeadScore,
    ScoringModel,
    ScoringRule,
    ScoringRun,
    SweepRequest,
)

log = logging.getLogger(__name__)

# What a batch sets aside when one lead fails (leadflow/deadletter.py); a retry rescores the lead
DEAD_SWEEP, DEAD_RESCORE, DEAD_THRESHOLD = "scoring.sweep", "scoring.rescore", "scoring.threshold"
DEAD_ACCOUNT = "scoring.account"  # an account set aside by the account sweep

MODEL_FIELDS: tuple[str, ...] = (
    "name",
    "description",
    "lead_fit_threshold",
    "mql_threshold",
    "mql_min_grade",
    "mql_min_probability",
    "recycle_below",
    "grade_a_min",
    "grade_b_min",
    "grade_c_min",
    "decay",
    "half_life_days",
    "decay_steps",
    "account_engaged_min",
    "account_engagement_cap",
    "account_member_points",
    "account_member_cap",
    "account_role_points",
    "account_mqa_threshold",
)
# the account settings: whole numbers, none negative
ACCOUNT_SETTINGS: tuple[str, ...] = MODEL_FIELDS[-6:]
RULE_FIELDS: tuple[str, ...] = (
    "name",
    "kind",
    "points",
    "activity_kind",
    "conditions",
    "repeatable",
    "max_count",
    "max_points",
    "window_days",
    "window_max",
    "decay",
    "half_life_days",
    "decay_steps",
    "inactive_days",
    "field",
    "op",
    "value",
)
MAX_POINTS = 100_000


class ScoringModelNotFoundError(NotFoundError):
    code = "scoring_model_not_found"


class ScoringRuleNotFoundError(NotFoundError):
    code = "scoring_rule_not_found"


class ModelNotDraftError(DomainError):
    code = "scoring_model_not_draft"


class NoPublishedModelError(DomainError):
    code = "no_published_scoring_model"


class CustomFieldUsedByRuleError(DomainError):
    code = "custom_field_used_by_scoring_rule"


def custom_field_check_unused(*, key: str) -> None:
    """Refuse deleting the custom field ``key`` while a draft or the published model has a fit
    rule on it. Archived models keep theirs: they score nothing, and the rule would simply never
    match again."""
    used = (
        ScoringRule.objects.filter(
            kind=ScoringRule.Kind.FIT,
            field=f"{r.CUSTOM_PREFIX}{key}",
            model__status__in=[ScoringModel.Status.DRAFT, ScoringModel.Status.PUBLISHED],
        )
        .select_related("model")
        .order_by("model__version", "id")
    )
    status: dict[str, str] = {
        ScoringModel.Status.DRAFT: pgettext("scoring model status, in a sentence", "draft"),
        ScoringModel.Status.PUBLISHED: pgettext("scoring model status, in a sentence", "published"),
    }
    names = [
        # Translators: a rule, the scoring model and version that has it, and its status
        _("“%(rule)s” in %(model)s v%(version)s (%(status)s)")
        % {
            "rule": x.name,
            "model": x.model.name,
            "version": x.model.version,
            "status": status.get(x.model.status, x.model.status),
        }
        for x in used
    ]
    if names:
        raise CustomFieldUsedByRuleError(
            ngettext(
                # Translators: %(rules)s lists the rules ("“Seats” in Spring v3 (draft); ...")
                "The custom field %(key)s is used by scoring rule(s) %(rules)s: remove those "
                "rules (publish a version without them) before deleting the field.",
                "The custom field %(key)s is used by scoring rule(s) %(rules)s: remove those "
                "rules (publish a version without them) before deleting the field.",
                len(names),
            )
            % {"key": repr(key), "rules": "; ".join(names)}
        )


# --- validation ---------------------------------------------------------------------------------


def model_clean(model: ScoringModel) -> None:
    """Refuse settings that cannot be evaluated, naming the field."""
    for name in ("lead_fit_threshold", "mql_threshold", "grade_a_min", "grade_b_min"):
        r._int(getattr(model, name), name, allow_none=False)
    r._int(model.grade_c_min, "grade_c_min", allow_none=False)
    r._int(model.recycle_below, "recycle_below")
    for name in ACCOUNT_SETTINGS:
        r._int(getattr(model, name), name, minimum=0, allow_none=False)
    if model.mql_min_grade not in r.GRADES:
        raise ValidationError({"mql_min_grade": _("The minimum grade must be A, B, C or D.")})
    if not model.grade_a_min > model.grade_b_min > model.grade_c_min:
        raise ValidationError(
            {"grade_a_min": _("Grade bands must be ordered: A minimum > B minimum > C minimum.")}
        )
    p = model.mql_min_probability
    if p is not None and (isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1):
        raise ValidationError(
            {"mql_min_probability": _("The minimum probability must be a number from 0 to 1.")}
        )
    if model.recycle_below is not None and model.recycle_below >= model.mql_threshold:
        # A lead at the threshold would be moved into MQL and out again by the same evaluation.
        raise ValidationError(
            {
                "recycle_below": _(
                    "Must be below the MQL threshold, or leads would cycle between MQL and Nurture."
                )
            }
        )
    if model.decay != ScoringModel.Decay.NONE:
        r.validate_decay(
            kind=model.decay, half_life_days=model.half_life_days, steps=model.decay_steps
        )
    if not (model.name or "").strip():
        raise ValidationError({"name": _("A scoring model needs a name.")})


def custom_field_types() -> dict[str, str]:
    """The lead custom fields a fit rule may name: key -> type."""
    return {key: field.type for key, field in lead_fields().items()}


def rule_clean(rule: ScoringRule, *, custom_fields: Mapping[str, str] | None = None) -> None:
    """Refuse a rule that cannot be evaluated (unknown field, bad operator, non-numeric points).
    ``custom_fields`` (key -> type) is read when not given."""
    if not (rule.name or "").strip():
        raise ValidationError({"name": _("A rule needs a name.")})
    if rule.kind not in ScoringRule.Kind.values:
        raise ValidationError(
            {
                "kind": _("Unknown rule kind %(kind)s; use one of %(kinds)s.")
                % {"kind": repr(rule.kind), "kinds": ScoringRule.Kind.values}
            }
        )
    r._int(rule.points, "points", allow_none=False)
    if abs(rule.points) > MAX_POINTS:
        raise ValidationError(
            {"points": _("Points must be between -%(max)s and %(max)s.") % {"max": MAX_POINTS}}
        )
    r._int(rule.max_count, "max_count", minimum=1)
    r._int(rule.max_points, "max_points", minimum=1)
    r._int(rule.window_max, "window_max", minimum=1)
    r._positive(rule.window_days, "window_days")
    if rule.kind == ScoringRule.Kind.ACTIVITY:
        if rule.activity_kind not in ActivityKind.values:
            raise ValidationError(
                {
                    "activity_kind": _("Unknown activity kind %(kind)s; use one of %(kinds)s.")
                    % {"kind": repr(rule.activity_kind), "kinds": ActivityKind.values}
                }
            )
        r.validate_conditions(rule.conditions)
        if (rule.window_days is None) != (rule.window_max is None):
            raise ValidationError(
                # Translators: window_days and window_max are the fields' codes
                {"window_max": _("A window cap needs both window_days and window_max.")}
            )
        r.validate_decay(
            kind=rule.decay, half_life_days=rule.half_life_days, steps=rule.decay_steps
        )
    elif rule.kind == ScoringRule.Kind.INACTIVITY:
        if rule.inactive_days is None:
            raise ValidationError(
                # Translators: inactive_days is the field's code
                {"inactive_days": _("An inactivity rule needs inactive_days.")}
            )
        r._positive(rule.inactive_days, "inactive_days")
    elif rule.kind == ScoringRule.Kind.ACCOUNT_FIT:
        ar.validate_account_fit(field_name=rule.field, op=rule.op, value=rule.value)
    else:
        if custom_fields is None:
            custom_fields = custom_field_types()
        r.validate_fit(
            field_name=rule.field, op=rule.op, value=rule.value, custom_fields=custom_fields
        )


def _check_overlap(model: ScoringModel) -> None:
    specs = engine.model_spec(model).rules + engine.account_spec(model).rules
    overlap = r.find_overlap(specs)
    if overlap is not None:
        first, second = overlap
        raise ValidationError(
            {
                "conditions": _(
                    "Rule %(rule)s counts exactly what rule %(other)s already counts; merge them "
                    "(change the points) instead."
                )
                % {"rule": repr(second.name), "other": repr(first.name)}
            }
        )


# --- models and rules ---------------------------------------------------------------------------


def _model_locked(model_id: int) -> ScoringModel:
    try:
        return ScoringModel.objects.select_for_update().get(pk=model_id)
    except ScoringModel.DoesNotExist:
        raise ScoringModelNotFoundError(
            _("There is no scoring model with id %(id)s.") % {"id": model_id}, field="model"
        ) from None


def _draft_locked(model_id: int) -> ScoringModel:
    model = _model_locked(model_id)
    if model.status == ScoringModel.Status.PUBLISHED:
        raise ModelNotDraftError(
            _(
                "Scoring model v%(version)s is published: published versions never change. "
                "Create a new version to edit it."
            )
            % {"version": model.version}
        )
    if model.status != ScoringModel.Status.DRAFT:
        raise ModelNotDraftError(
            _(
                "Scoring model v%(version)s is archived: published versions never change. "
                "Create a new version to edit it."
            )
            % {"version": model.version}
        )
    return model


def _next_version() -> int:
    last = ScoringModel.objects.order_by("-version").values_list("version", flat=True).first()
    return (last or 0) + 1


def _unknown(data: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, _("Unknown field.")))


@transaction.atomic
def model_create(*, data: Mapping[str, Any], actor: User | None = None) -> ScoringModel:
    _unknown(data, MODEL_FIELDS)
    # one writer at a time takes the next version number
    ScoringModel.objects.select_for_update().order_by("-version").first()
    model = ScoringModel(**dict(data), version=_next_version(), created_by=actor)
    model_clean(model)
    model.save()
    audit_record(
        action="scoring.model_created", actor=actor, target_type="scoring_model", target_id=model.pk
    )
    return model


@transaction.atomic
def model_update(
    *, model_id: int, data: Mapping[str, Any], actor: User | None = None
) -> ScoringModel:
    _unknown(data, MODEL_FIELDS)
    model = _draft_locked(model_id)
    for name, value in data.items():
        setattr(model, name, value)
    model_clean(model)
    model.save(update_fields=list(data))
    return model


@transaction.atomic
def model_delete(*, model_id: int, actor: User | None = None) -> None:
    model = _draft_locked(model_id)
    audit_record(
        action="scoring.model_deleted", actor=actor, target_type="scoring_model", target_id=model.pk
    )
    model.delete()


@transaction.atomic
def model_new_version(*, model_id: int, actor: User | None = None) -> ScoringModel:
    """A draft copy of any version (settings and rules), to edit and publish."""
    source = _model_locked(model_id)
    ScoringModel.objects.select_for_update().order_by("-version").first()
    draft = ScoringModel.objects.create(
        **{name: getattr(source, name) for name in MODEL_FIELDS},
        version=_next_version(),
        created_by=actor,
        based_on=source,
    )
    ScoringRule.objects.bulk_create(
        ScoringRule(
            model=draft, key=rule.key, **{name: getattr(rule, name) for name in RULE_FIELDS}
        )
        for rule in source.rules.order_by("id")
    )
    return draft


@transaction.atomic
def rule_create(*, model_id: int, data: Mapping[str, Any]) -> ScoringRule:
    _unknown(data, RULE_FIELDS)
    model = _draft_locked(model_id)
    rule = ScoringRule(model=model, **dict(data))
    rule_clean(rule)
    rule.save()
    _check_overlap(model)
    return rule


@transaction.atomic
def rule_update(*, rule_id: int, data: Mapping[str, Any]) -> ScoringRule:
    _unknown(data, RULE_FIELDS)
    rule = _rule(rule_id)
    _draft_locked(rule.model_id)
    for name, value in data.items():
        setattr(rule, name, value)
    rule_clean(rule)
    rule.save()
    _check_overlap(rule.model)
    return rule


@transaction.atomic
def rule_delete(*, rule_id: int) -> None:
    rule = _rule(rule_id)
    _draft_locked(rule.model_id)
    rule.delete()


def _rule(rule_id: int) -> ScoringRule:
    rule = ScoringRule.objects.select_related("model").filter(pk=rule_id).first()
    if rule is None:
        raise ScoringRuleNotFoundError(
            _("There is no scoring rule with id %(id)s.") % {"id": rule_id}, field="rule"
        )
    return rule


@transaction.atomic
def model_publish(*, model_id: int, actor: User | None = None) -> ScoringRun:
    """The draft becomes the model that scores leads; the old one is archived; all leads are
    rescored in the background (the returned run reports progress)."""
    model = _draft_locked(model_id)
    model_clean(model)
    if not model.rules.exists():
        raise ValidationError({"rules": _("A scoring model needs at least one rule to publish.")})
    custom_fields = custom_field_types()
    for rule in model.rules.all():
        rule_clean(rule, custom_fields=custom_fields)
    _check_overlap(model)
    previous = ScoringModel.objects.select_for_update().filter(status=ScoringModel.Status.PUBLISHED)
    previous_ids = list(previous.values_list("pk", flat=True))
    previous.update(status=ScoringModel.Status.ARCHIVED)
    ScoringRun.objects.filter(
        model_id__in=previous_ids,
        kind=ScoringRun.Kind.RESCORE,
        status__in=[ScoringRun.Status.QUEUED, ScoringRun.Status.RUNNING],
    ).update(status=ScoringRun.Status.FAILED, error="superseded by a newer published version")
    model.status = ScoringModel.Status.PUBLISHED
    model.published_at, model.published_by = timezone.now(), actor
    model.save(update_fields=["status", "published_at", "published_by"])
    audit_record(
        action="scoring.model_published",
        actor=actor,
        target_type="scoring_model",
        target_id=model.pk,
        details={"version": model.version, "replaced": previous_ids},
    )
    return run_start(model_id=model.pk, kind=ScoringRun.Kind.RESCORE, reason="publish", actor=actor)


def published_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(status=ScoringModel.Status.PUBLISHED).first()


# --- runs: full rescore and dry run, batch by batch in the background ---------------------------


@transaction.atomic
def run_start(
    *, model_id: int, kind: str, reason: str = "", actor: User | None = None
) -> ScoringRun:
    model = ScoringModel.objects.filter(pk=model_id).first()
    if model is None:
        raise ScoringModelNotFoundError(
            _("There is no scoring model with id %(id)s.") % {"id": model_id}
        )
    if kind == ScoringRun.Kind.RESCORE and model.status != ScoringModel.Status.PUBLISHED:
        raise NoPublishedModelError(_("Only the published model rescores leads; dry-run a draft."))
    run = ScoringRun.objects.create(
        model=model, kind=kind, reason=reason, created_by=actor, total=Lead.objects.count()
    )
    transaction.on_commit(lambda: _enqueue_run(run.pk))
    return run


def _enqueue_run(run_id: int) -> None:
    from scoring.tasks import scoring_run_task

    scoring_run_task.delay(run_id=run_id)


def _merge(into: dict[str, Any], add: Mapping[str, Any]) -> None:
    for key, value in add.items():
        if isinstance(value, dict):
            _merge(into.setdefault(key, {}), value)
        else:
            into[key] = into.get(key, 0) + value


def _mql_move(model: ScoringModel, row: engine.Evaluated, probability: float | None) -> str:
    """What ``model`` would do to this lead's MQL status now: "enter", "leave" or ""."""
    t, rb = model.mql_threshold, model.recycle_below
    armed = (
        row.armed
        if row.armed is not None
        else engine.initial_armed(score=row.score, stage=row.stage, mql_threshold=t)
    )
    armed = armed or row.score < t
    stage = (
        Stage.LEAD
        if row.stage == Stage.SUSPECT and row.fit >= model.lead_fit_threshold
        else row.stage
    )
    qualifies = (
        row.score >= t and row.grade <= model.mql_min_grade and _probable(model, probability)
    )
    if stage in (Stage.LEAD, Stage.NURTURE) and armed and qualifies:
        return DryRunLead.Move.ENTER
    if stage == Stage.MQL and rb is not None and row.score < rb:
        return DryRunLead.Move.LEAVE
    return ""


def _dry_run_stats(
    model: ScoringModel,
    rows: Sequence[engine.Evaluated],
    *,
    baseline: ScoringModel | None = None,
    base_rows: Sequence[engine.Evaluated] | None = None,
) -> tuple[dict[str, Any], list[Mover]]:
    """What the draft changes, and the leads it would move. ``base_rows``: the same leads under
    the published model ``baseline`` at the same moment (without them, the stored scores and
    no model to compare with). A move counts only if the published model would not make it
    too: a draft identical to the published model moves nothing (a lead the next sweep would
    move anyway is not the draft's doing). An MQL counts as falling below only if it is at or
    above the threshold before and below after: an MQL whose score has already sunk below it
    (decay, the demo's seeded stages) is no change."""
    t, lt = model.mql_threshold, model.lead_fit_threshold
    t_before = t if baseline is None else baseline.mql_threshold
    base = {row.lead_id: row for row in base_rows} if base_rows is not None else {}

    def old(row: engine.Evaluated) -> int:
        b = base.get(row.lead_id)
        return row.old_score if b is None else b.score

    gated = model.mql_min_probability is not None or (
        baseline is not None and baseline.mql_min_probability is not None
    )
    probabilities: dict[int, float | None] = (
        dict(
            Lead.objects.filter(pk__in=[row.lead_id for row in rows]).values_list(
                "pk", "conversion_probability"
            )
        )
        if gated
        else {}
    )
    enter_lead = fall_below = changed = 0
    movers: list[Mover] = []
    for row in rows:
        b = base.get(row.lead_id)
        probability = probabilities.get(row.lead_id)
        new_lead = row.stage == Stage.SUSPECT and row.fit >= lt
        if new_lead and (b is None or baseline is None or b.fit < baseline.lead_fit_threshold):
            enter_lead += 1
        move = _mql_move(model, row, probability)
        if move and (b is None or baseline is None or _mql_move(baseline, b, probability) != move):
            movers.append(Mover(row.lead_id, move, old(row), row.score))
        if row.stage == Stage.MQL and old(row) >= t_before and row.score < t:
            fall_below += 1
        changed += row.score != old(row)
    stats = {
        "leads": len(rows),
        "changed": changed,
        "enter_lead": enter_lead,
        "enter_mql": sum(m.move == DryRunLead.Move.ENTER for m in movers),
        "leave_mql": sum(m.move == DryRunLead.Move.LEAVE for m in movers),
        "mql_below_threshold": fall_below,
        "sum_before": sum(old(row) for row in rows),
        "sum_after": sum(row.score for row in rows),
        "before": r.score_histogram([old(row) for row in rows]),
        "after": r.score_histogram([row.score for row in rows]),
    }
    return stats, movers


def run_execute(*, run_id: int, batch_size: int | None = None) -> ScoringRun:
    """Run (or resume) a run to its end. Each batch commits with its progress (``done``,
    ``last_lead_id``, heartbeat) through :func:`leadflow.jobs.job_batch`, so a resumed run
    continues after the last committed batch and no score is ever half-written. Transient
    database errors are retried per batch; anything else fails the run with the reason."""
    size = batch_size or settings.SCORING_BATCH_SIZE
    attempt = jobs.job_claim(ScoringRun, run_id)
    if attempt is None:
        return ScoringRun.objects.get(pk=run_id)  # ended, or another worker has it
    run = ScoringRun.objects.select_related("model").get(pk=run_id)
    model = run.model
    spec = engine.model_spec(model)
    dry = run.kind == ScoringRun.Kind.DRY_RUN
    account_spec = engine.account_spec(model) if dry else None
    batch = partial(_run_batch, model=model, spec=spec, account_spec=account_spec, size=size)
    status, error = ScoringRun.Status.DONE, ""
    try:
        while jobs.job_batch(ScoringRun, run_id, attempt, batch, what=f"scoring run {run_id}") > 0:
            pass
    except jobs.Stop:
        account_dry_run.accounts_forget_ended(run_id=run_id)
        return ScoringRun.objects.get(pk=run_id)  # cancelled, superseded or failed as stale
    except Exception as exc:
        log.exception("scoring run %s failed", run_id)
        error = jobs.failure_reason(exc, ScoringRun.objects.get(pk=run_id))
        status = ScoringRun.Status.FAILED
    jobs.job_finish(ScoringRun, run_id, attempt, status, error)
    account_dry_run.accounts_forget_ended(run_id=run_id)
    return ScoringRun.objects.get(pk=run_id)


def _run_batch(
    run: ScoringRun,
    *,
    model: ScoringModel,
    spec: r.ModelSpec,
    size: int,
    account_spec: ar.AccountSpec | None = None,
) -> int:
    """One id range of leads, inside the job's batch transaction; returns the leads done
    (0: no lead is left past the resume point). A dry run adds the batch's members to their
    accounts' totals, and scores the accounts once the leads are done
    (``scoring.account_dry_run``; ``account_spec``: the model's, read once per run)."""
    # the next `size` leads by id, as a range: the engine reads a range in one index scan
    bounds = (
        Lead.objects.filter(pk__gt=run.last_lead_id)
        .order_by("pk")[:size]
        .aggregate(hi=Max("pk"), n=Count("pk"))
    )
    # a dry run's accounts (None: a rescore)
    dry = run.kind == ScoringRun.Kind.DRY_RUN
    account_spec = (account_spec or engine.account_spec(model)) if dry else None
    if dry and run.last_lead_id == 0:
        account_dry_run.accounts_reset(run_id=run.pk)  # an earlier attempt's totals
        dry_run_leads.movers_reset(run_id=run.pk)  # and named leads
    if not bounds["n"]:
        if account_spec is not None:  # a dry run's leads are done: score the accounts
            run.result["accounts"] = account_dry_run.accounts_summary(
                run=run, model=model, spec=account_spec, baseline=published_model()
            )
            # and route the leads it would make MQLs (handover: owners, inbox load, SLA)
            dry_run_leads.dry_run_leads_done.send(
                sender=ScoringRun, run=run, now=run.started_at or timezone.now()
            )
        else:  # a rescore's leads are done: every account, from its members' new engagement
            run.result["accounts_written"] = accounts_rescore_all(model=model)
        return 0
    ids = engine.IdRange(run.last_lead_id + 1, bounds["hi"])
    now = run.started_at or timezone.now()
    if account_spec is not None:
        _dry_run_batch(run, ids, model=model, spec=spec, account_spec=account_spec, now=now)
    else:
        for written, moved in deadletter.isolate(
            ids,
            # no account marks: the run rescores every account once its leads are done
            partial(_score_batch, model=model, spec=spec, now=now, mark_accounts=False),
            kind=DEAD_RESCORE,
            ids=engine.id_list,
        ):
            run.written += written
            run.moved += moved
    run.last_lead_id = ids.hi
    return int(bounds["n"])


def _dry_run_batch(
    run: ScoringRun,
    ids: engine.IdRange,
    *,
    model: ScoringModel,
    spec: r.ModelSpec,
    account_spec: ar.AccountSpec,
    now: datetime,
) -> None:
    """Add one batch of leads to the dry run's figures and its members to their accounts'
    totals; writes no score."""
    rows = engine.evaluate_rows(model=model, spec=spec, ids=ids, now=now)
    # compare with the published model as of the same moment, not with the stored scores
    # (older: decay and activity since the last sweep would count as the draft's changes)
    baseline = published_model()
    if baseline is None:
        base_rows = None
    elif baseline.pk == model.pk:
        base_rows = rows
    else:
        base_spec = engine.model_spec(baseline)
        base_rows = engine.evaluate_rows(model=baseline, spec=base_spec, ids=ids, now=now)
    stats, movers = _dry_run_stats(model, rows, baseline=baseline, base_rows=base_rows)
    _merge(run.result, stats)
    dry_run_leads.movers_add(run_id=run.pk, movers=movers)
    account_dry_run.accounts_add_batch(
        run_id=run.pk,
        ids=ids,
        after=rows,
        before=base_rows,
        after_spec=account_spec,
        before_spec=engine.account_spec(baseline) if baseline else None,
    )


def _score_batch(
    ids: engine.Batch,
    *,
    model: ScoringModel,
    spec: r.ModelSpec,
    now: datetime,
    mark_accounts: bool = True,
) -> tuple[int, int]:
    """Write the batch's scores (marking the accounts of leads whose engagement changed, in
    the same statement, unless ``mark_accounts`` is False) and apply its thresholds: (rows
    written, leads moved)."""
    written = engine.write_scores(
        model=model, spec=spec, ids=ids, now=now, mark_accounts=mark_accounts
    )
    return written, apply_thresholds(model=model, ids=ids)


def runs_redrive(*, older_than_seconds: float = 120.0) -> int:
    """Queue again runs whose task was lost before a worker took it (broker restarted). A run
    whose worker died while running is failed by ``leadflow.jobs.jobs_fail_stale`` instead,
    with the reason, and resumed from its page."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = list(
        ScoringRun.objects.filter(
            status=ScoringRun.Status.QUEUED, created_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for run_id in stuck:
        _enqueue_run(run_id)
    return len(stuck)


def run_cancel(*, run_id: int, actor: User | None, request: Any = None) -> ScoringRun:
    """Stop at the next batch boundary (a queued run is cancelled at once)."""
    return jobs.job_cancel(ScoringRun, run_id, actor=actor, request=request)


@transaction.atomic
def run_resume(*, run_id: int, actor: User | None, request: Any = None) -> ScoringRun:
    """A rescore continues after its last committed batch; a dry run starts over (its result
    is a snapshot of one moment). A rescore of a model no longer published is refused."""
    run = ScoringRun.objects.select_related("model").get(pk=run_id)
    if run.kind == ScoringRun.Kind.RESCORE and run.model.status != ScoringModel.Status.PUBLISHED:
        raise NoPublishedModelError(
            _("v%(version)s is no longer the published model: there is nothing to resume.")
            % {"version": run.model.version}
        )
    run = jobs.job_resume(ScoringRun, run_id, actor=actor, request=request)
    if not run.resumable:
        run.last_lead_id, run.result, run.total = 0, {}, Lead.objects.count()
        run.save(update_fields=["last_lead_id", "result", "total"])
    transaction.on_commit(lambda: _enqueue_run(run.pk))
    return run


def decay_rescore_start() -> ScoringRun | None:
    """The periodic pass: decay changes scores with time alone, so rescore everything."""
    model = published_model()
    if model is None:
        return None
    spec = engine.model_spec(model)
    ages = any(
        x.kind == r.KIND_INACTIVITY or x.decay.kind != "none" or x.window_days for x in spec.rules
    )
    busy = ScoringRun.objects.filter(
        model=model,
        kind=ScoringRun.Kind.RESCORE,
        status__in=[ScoringRun.Status.QUEUED, ScoringRun.Status.RUNNING],
    ).exists()
    if not ages or busy:
        return None
    return run_start(model_id=model.pk, kind=ScoringRun.Kind.RESCORE, reason="decay")


# --- thresholds -------------------------------------------------------------------------------


def apply_thresholds(*, model: ScoringModel, ids: engine.Batch) -> int:
    """Move leads of ``ids`` whose stored evaluation by ``model`` crosses a threshold.

    Re-arming: the MQL threshold fires when a lead is armed — it was below the threshold at some
    evaluation since it last entered MQL (or it has never been MQL). Call inside a transaction.
    """
    t, lt, rb = model.mql_threshold, model.lead_fit_threshold, model.recycle_below
    # leads at or past MQL and still at or above it are disarmed until they fall below again
    disarm = Q(mql_armed=True, score__gte=t, lead__stage__in=engine.PAST_MQL)
    to_mql = Q(
        lead__stage__in=[Stage.LEAD, Stage.NURTURE],
        mql_armed=True,
        score__gte=t,
        grade__lte=model.mql_min_grade,
    )
    if model.mql_min_probability is not None:  # the optional predictive gate
        to_mql &= Q(lead__conversion_probability__gte=model.mql_min_probability)
    crossing = Q(lead__stage=Stage.SUSPECT, fit_score__gte=lt) | to_mql
    if rb is not None:
        crossing |= Q(lead__stage=Stage.MQL, score__lt=rb)
    # one read for both (a disarmed lead is past MQL at or above it: it crosses nothing)
    rows = list(
        LeadScore.objects.filter(engine.batch_q(ids, "lead_id"))
        .filter(disarm | (Q(model=model) & crossing))
        .annotate(disarming=ExpressionWrapper(disarm, output_field=BooleanField()))
        .order_by("lead_id")
        .values_list(
            "disarming",
            "lead_id",
            "lead__stage",
            "score",
            "fit_score",
            "grade",
            "mql_armed",
            "lead__conversion_probability",
        )
    )
    if disarmed := [row[1] for row in rows if row[0]]:
        LeadScore.objects.filter(lead_id__any=disarmed).update(mql_armed=False)
    moved = 0
    for disarming, lead_id, stage, score, fit, grade, armed, probability in rows:
        if disarming:
            continue
        # each move in a savepoint of its own: a lead whose move fails is set aside, the others
        # move (its score is written; a retry applies its thresholds again)
        move = partial(_cross, model, lead_id, stage, score, fit, grade, armed, probability)
        moved += sum(
            deadletter.isolate_one(
                lead_id, partial(_unless_refused, move, lead_id), kind=DEAD_THRESHOLD
            )
        )
    return moved


def _unless_refused(move: Callable[[], int], lead_id: int) -> int:
    try:
        with transaction.atomic():
            return move()
    except DomainError as exc:  # e.g. someone moved the lead meanwhile: the table refused
        log.warning("scoring: lead %s not moved: %s", lead_id, exc.message)
        return 0


def _probable(model: ScoringModel, probability: float | None) -> bool:
    """The optional predictive gate: no minimum set, or a learned probability at or above it."""
    floor = model.mql_min_probability
    return floor is None or (probability is not None and probability >= floor)


def _cross(
    model: ScoringModel,
    lead_id: int,
    stage: str,
    score: int,
    fit: int,
    grade: str,
    armed: bool,
    probability: float | None = None,
) -> int:
    source, moved = StageChange.Source.SCORING, 0
    tag = f"(scoring model v{model.version})"
    if stage == Stage.SUSPECT and fit >= model.lead_fit_threshold:
        lead_services.lead_qualify(
            lead_id=lead_id,
            actor=None,
            source=source,
            reason=f"fit score {fit} reached {model.lead_fit_threshold} {tag}",
        )
        stage, moved = Stage.LEAD, 1
    if (
        stage in (Stage.LEAD, Stage.NURTURE)
        and armed
        and score >= model.mql_threshold
        and grade <= model.mql_min_grade
        and _probable(model, probability)
    ):
        lead_services.lead_mark_mql(
            lead_id=lead_id,
            actor=None,
            source=source,
            reason=f"score {score} reached {model.mql_threshold} with fit grade {grade}"
            + (
                f" and probability {probability:.2f}"
                if model.mql_min_probability is not None
                else ""
            )
            + f" {tag}",
        )
        LeadScore.objects.filter(pk=lead_id).update(mql_armed=False)
        moved += 1
    elif stage == Stage.MQL and model.recycle_below is not None and score < model.recycle_below:
        lead_services.lead_recycle(
            lead_id=lead_id,
            actor=None,
            source=source,
            reason=f"score {score} fell below {model.recycle_below} {tag}",
        )
        moved += 1
    return moved


# --- incremental and single-lead paths ----------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    scored: int
    written: int
    moved: int
    batches: int
    seconds: float


def sweep_request() -> bool:
    """Mark a sweep as pending; True when the caller should queue it (none was pending)."""
    # Read first: this runs after every ingesting commit and a sweep is usually pending, so the
    # common case is one read instead of an UPDATE that matches nothing plus a SELECT.
    if SweepRequest.objects.filter(pk=1, requested=True).exists():
        return False
    now = timezone.now()
    if SweepRequest.objects.filter(pk=1, requested=False).update(requested=True, requested_at=now):
        return True
    _row, created = SweepRequest.objects.get_or_create(
        pk=1, defaults={"requested": True, "requested_at": now}
    )
    return created


def score_dirty_sweep(
    *, batch_size: int | None = None, max_batches: int | None = None
) -> SweepResult:
    """Rescore leads marked for it (new activities, changed fields), oldest mark first.

    Each batch takes its marks, locks their leads, evaluates, writes and applies thresholds in
    one transaction. Bursts coalesce: however many activities marked a lead, it is evaluated
    once per batch. A lead that makes its batch fail is set aside (``leadflow.deadletter``, with
    its marks gone) and the rest of the batch commits: it cannot hold the oldest marks forever.
    """
    started = time.perf_counter()
    SweepRequest.objects.filter(pk=1, requested=True).update(requested=False)  # before looking
    model = published_model()
    if model is None:
        return SweepResult(0, 0, 0, 0, 0.0)
    spec = engine.model_spec(model)
    size = batch_size or settings.SCORING_BATCH_SIZE
    scored = written = moved = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            ids = _take_marked(size)
            if not ids:
                break
            batch = partial(_score_batch, model=model, spec=spec, now=timezone.now())
            for w, m in deadletter.isolate(ids, batch, kind=DEAD_SWEEP):
                written, moved = written + w, moved + m
        scored += len(ids)
        batches += 1
    return SweepResult(scored, written, moved, batches, time.perf_counter() - started)


# One statement on PostgreSQL: take the oldest marks (skipping those another sweep holds), lock
# their leads (skipping those someone else holds), give the skipped leads a new mark.
_TAKE_MARKS = """
    WITH m AS (
        DELETE FROM {marks} WHERE id IN (
            SELECT id FROM {marks} ORDER BY id LIMIT %(size)s FOR UPDATE SKIP LOCKED)
        RETURNING lead_id
    ), locked AS (
        SELECT id FROM {leads} WHERE id IN (SELECT lead_id FROM m)
        FOR NO KEY UPDATE SKIP LOCKED
    ), requeued AS (
        INSERT INTO {marks} (lead_id, marked_at)
        SELECT h.lead_id, %(now)s FROM (SELECT lead_id FROM m EXCEPT SELECT id FROM locked) h
         WHERE EXISTS (SELECT 1 FROM {leads} l WHERE l.id = h.lead_id)  -- not deleted meanwhile
    )
    SELECT id FROM locked ORDER BY id
"""
# SQLite has one writer at a time: nothing is held by anyone else.
_TAKE_MARKS_SQLITE = """
    DELETE FROM {marks} WHERE id IN (SELECT id FROM {marks} ORDER BY id LIMIT %(size)s)
    RETURNING lead_id
"""


def _take_marked(size: int) -> list[int]:
    """Take up to ``size`` of the oldest marks and lock their leads; returns the leads locked,
    in id order.

    Marks another sweep holds are skipped, and so are leads someone else holds (a rep moving
    one, a full rescore writing it): those get a new mark for a later batch. Call inside the
    batch's transaction: a rollback restores every mark, and a mark committed after the
    ``DELETE`` looked stays for the next batch with the activity it stands for.
    """
    sql = _TAKE_MARKS if connection.vendor == "postgresql" else _TAKE_MARKS_SQLITE
    tables = {"marks": RescoreMark._meta.db_table, "leads": Lead._meta.db_table}
    with connection.cursor() as cursor:
        cursor.execute(sql.format(**tables), {"size": size, "now": timezone.now()})
        return sorted({lead_id for (lead_id,) in cursor.fetchall()})


def lead_retry(lead_id: int) -> None:
    """A lead set aside by a batch: rescore it and apply its thresholds now (raises if that
    fails again). A lead deleted meanwhile needs nothing more."""
    try:
        score_lead(lead_id=lead_id)
    except lead_services.LeadNotFoundError:
        log.info("scoring: lead %s set aside was deleted since", lead_id)


@transaction.atomic
def score_lead(*, lead_id: int, now: datetime | None = None) -> LeadScore | None:
    """Rescore one lead now with the published model (the same evaluation as every batch)."""
    model = published_model()
    if model is None:
        return None
    if not Lead.objects.select_for_update(no_key=True).filter(pk=lead_id).exists():
        raise lead_services.LeadNotFoundError(
            _("There is no lead with id %(id)s.") % {"id": lead_id}, field="lead"
        )
    RescoreMark.objects.filter(lead_id=lead_id).delete()
    now = now or timezone.now()
    engine.write_scores(model=model, spec=engine.model_spec(model), ids=[lead_id], now=now)
    apply_thresholds(model=model, ids=[lead_id])
    return LeadScore.objects.filter(pk=lead_id).first()


# --- accounts: marks, the sweep and the single-account path -----------------------------------


def accounts_rescore_all(*, model: ScoringModel) -> int:
    """Score every account with ``model``, in the caller's transaction: what a rescore run (a
    published model, the daily decay) does once its leads are done, so each account is scored
    once, from its members' new engagement (the run's lead batches mark none). Wide batches by
    account id (``account_engine.WIDE_BATCH``, a hash join each); an account whose evaluation
    fails is set aside as in the sweep. Marks are left to the sweep. Returns the rows written."""
    spec = engine.account_spec(model)
    size = _account_batch_size(wide=True)
    written, last = 0, 0
    while ids := list(
        Account.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]
    ):
        written += _score_account_batch(ids, model=model, spec=spec)
        last = ids[-1]
    return written


@dataclass(frozen=True)
class AccountSweepResult:
    scored: int
    written: int
    batches: int
    seconds: float


def account_scores_sweep(
    *, batch_size: int | None = None, max_batches: int | None = None
) -> AccountSweepResult:
    """Rescore accounts marked for it, oldest mark first, a batch per transaction: take the
    marks, evaluate and upsert the batch (one statement on PostgreSQL), delete the marks. An
    account whose evaluation fails is set aside (``leadflow.deadletter``, kind
    ``scoring.account``) and the rest of its batch commits."""
    started = time.perf_counter()
    model = published_model()
    if model is None:
        return AccountSweepResult(0, 0, 0, 0.0)
    spec = engine.account_spec(model)
    scored = written = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            ids = _take_account_marks(batch_size or _account_batch_size(wide=_backlog_is_wide()))
            if not ids:
                break
            written += _score_account_batch(ids, model=model, spec=spec)
        scored += len(ids)
        batches += 1
    return AccountSweepResult(scored, written, batches, time.perf_counter() - started)


def _account_batch_size(*, wide: bool) -> int:
    """The usual batch, or with ``wide`` a wide one where it pays: from
    ``account_engine.HASH_JOIN_MIN`` accounts one scan of the leads beats probing each member's
    lead (PostgreSQL; SQLite scores in Python, a usual batch at a time)."""
    if wide and connection.vendor == "postgresql":
        return account_engine.WIDE_BATCH
    return int(settings.SCORING_BATCH_SIZE)


def _backlog_is_wide() -> bool:
    """Are at least ``account_engine.HASH_JOIN_MIN`` marks waiting (a published model's)?"""
    wide = account_engine.HASH_JOIN_MIN
    return AccountRescoreMark.objects.order_by()[:wide].count() >= wide


def _score_account_batch(ids: Sequence[int], *, model: ScoringModel, spec: ar.AccountSpec) -> int:
    """Score ``ids`` in the caller's transaction; an account whose evaluation fails is set aside
    (``DEAD_ACCOUNT``) and the rest go through. Returns the rows written. The batch scope
    caches what each MQA's handover reads (the SLA policy, subscriptions, a team's manager); a
    failing part of the batch clears it (``scope.item``)."""
    work = partial(_score_accounts, model=model, spec=spec, now=timezone.now())
    with batch_scope(defer=False) as scope:

        def item(part: Sequence[int]) -> int:
            with scope.item():
                return work(part)

        return sum(deadletter.isolate(ids, item, kind=DEAD_ACCOUNT))


def _score_accounts(
    ids: Sequence[int], *, model: ScoringModel, spec: ar.AccountSpec, now: datetime
) -> int:
    written = account_engine.write_account_scores(model=model, spec=spec, ids=ids, now=now)
    account_thresholds(model=model, ids=ids, now=now)
    return written


def account_thresholds(*, model: ScoringModel, ids: Sequence[int], now: datetime) -> int:
    """Accounts of ``ids`` whose stored score by ``model`` reached the MQA threshold while
    armed become MQA: disarmed (until a later score falls below it) and announced
    (``companies.events.accounts_qualified``: handover opens their account handovers), in the
    caller's transaction. Returns how many."""
    t = model.account_mqa_threshold
    # ``__any``: the ids as one array parameter (an IN list of a wide batch's 100,000
    # parameters took 1.8 s to build and parse)
    rows = list(
        AccountScore.objects.filter(account_id__any=ids, model=model, mqa_armed=True, score__gte=t)
        .order_by("account_id")
        .values_list("account_id", "score", "grade")
    )
    if not rows:
        return 0
    AccountScore.objects.filter(account_id__any=[row[0] for row in rows]).update(mqa_armed=False)
    qualified = [
        QualifiedAccount(
            account_id,
            score,
            grade,
            f"account score {score} reached {t} (scoring model v{model.version})",
        )
        for account_id, score, grade in rows
    ]
    accounts_qualified.send(AccountScore, accounts=qualified, now=now)
    return len(rows)


# PostgreSQL: take the oldest marks, skipping those another sweep holds (as _TAKE_MARKS).
_TAKE_ACCOUNT_MARKS = """
    DELETE FROM {marks} WHERE id IN (
        SELECT id FROM {marks} ORDER BY id LIMIT %(size)s FOR UPDATE SKIP LOCKED)
    RETURNING account_id
"""
# ... and the same accounts' other marks, skipping those another sweep holds
_TAKE_SAME_ACCOUNT_MARKS = """
    DELETE FROM {marks} WHERE id IN (
        SELECT id FROM {marks} WHERE account_id = ANY(%(ids)s::bigint[]) FOR UPDATE SKIP LOCKED)
"""
_TAKE_ACCOUNT_MARKS_SQLITE = """
    DELETE FROM {marks} WHERE id IN (SELECT id FROM {marks} ORDER BY id LIMIT %(size)s)
    RETURNING account_id
"""


def _take_account_marks(size: int) -> list[int]:
    """Take up to ``size`` of the oldest account marks; returns their accounts in id order.
    Their other marks go too (this batch's evaluation covers them: a full rescore marks an
    account once per lead batch its members fall in, and the sweep scored it that many times);
    marks another sweep holds are skipped. Call inside the batch's transaction: a rollback
    restores the marks."""
    sql = _TAKE_ACCOUNT_MARKS if connection.vendor == "postgresql" else _TAKE_ACCOUNT_MARKS_SQLITE
    with connection.cursor() as cursor:
        cursor.execute(sql.format(marks=AccountRescoreMark._meta.db_table), {"size": size})
        taken = cursor.fetchall()
        ids = sorted({account_id for (account_id,) in taken})
    if connection.vendor != "postgresql":
        AccountRescoreMark.objects.filter(account_id__in=ids).delete()
        return ids
    if len(taken) < size:
        return ids  # every mark no other sweep holds is taken: there are no others
    # one statement with the ids as one array: a SELECT of their marks' ids and a DELETE of
    # that list took 150 ms a batch of 10,000 accounts (20,000 parameters parsed)
    with connection.cursor() as cursor:
        cursor.execute(
            _TAKE_SAME_ACCOUNT_MARKS.format(marks=AccountRescoreMark._meta.db_table),
            {"ids": ids},
        )
    return ids


@transaction.atomic
def score_account(*, account_id: int, now: datetime | None = None) -> AccountScore | None:
    """Rescore one account now with the published model (the pure evaluation); None without
    a published model or when the account no longer exists."""
    model = published_model()
    if model is None:
        return None
    AccountRescoreMark.objects.filter(account_id=account_id).delete()
    now = now or timezone.now()
    account_engine.write_python(
        model=model, spec=engine.account_spec(model), ids=[account_id], now=now
    )
    account_thresholds(model=model, ids=[account_id], now=now)
    return AccountScore.objects.filter(pk=account_id).first()


def account_retry(account_id: int) -> None:
    """An account set aside by the account sweep: rescore it now (raises if that fails)."""
    score_account(account_id=account_id)

"""Keep touches, lead credits and the daily rollup in step with the activity and stage logs.

Changes only *mark* a lead (``RefreshMark``, in the changing transaction: cheap, never lost:
a mark written while a sweep runs stays for the next);
the refresh sweep (beat, every ``LEADFLOW_ATTRIBUTION_REFRESH_SECONDS``) takes the marks in
batches and, per batch in one transaction:

1. reads what the batch's leads hold in the rollup now (``LeadCredit``);
2. derives their touches (attribution/touches.py) from their activities and the lead, and their
   outcomes from the stage log: the first time each reached MQL, SQL and Customer (or a stage
   beyond it), and the deal value at Customer;
3. shares each outcome among the touches at or before it under the six models
   (attribution/credit.py), writes touches and lead credits anew;
4. adds the difference (new − old) to ``CreditDay`` with one upsert per batch.

So the rollup is the sum of every lead's credits whatever order refreshes run in; a lead that
fails is set aside (``leadflow.deadletter``) and the rest of its batch commits. One refresh
batch runs at a time (a transaction-scoped advisory lock on PostgreSQL; SQLite has one writer).
"""

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from attribution import credit
from attribution.models import (
    CREDIT_FIELDS,
    REVENUE_FIELDS,
    CreditDay,
    LeadCredit,
    Outcome,
    RefreshMark,
    Touch,
)
from attribution.touches import MAYBE_TOUCH, Tags, activity_tags, lead_tags
from leadflow import batchscope, deadletter
from leadflow.locks import transaction_lock
from leads import money
from leads.lifecycle import Stage
from leads.models import Activity, Lead, StageChange

DEAD_REFRESH: Final = "attribution.refresh"
BATCH_SIZE: Final = 500
_LOCK_KEY: Final = 740_020  # pg_advisory_xact_lock key of the refresh (any constant of ours)
VALUE_FIELDS: Final = (*CREDIT_FIELDS, *REVENUE_FIELDS)
# an outcome is reached by entering its stage or one beyond it in the funnel
REACHED: Final = {
    Outcome.MQL: (Stage.MQL, Stage.SAL, Stage.SQL, Stage.CUSTOMER),
    Outcome.SQL: (Stage.SQL, Stage.CUSTOMER),
    Outcome.CUSTOMER: (Stage.CUSTOMER,),
}
_UTM_KEYS: Final = ["utm", "utm_source", "utm_medium", "utm_campaign"]

Key = tuple[str, date, str, str, str]  # outcome, day, source, medium, campaign
Vector = list[int]  # VALUE_FIELDS order


@dataclass(frozen=True)
class LeadTouch:
    at: datetime
    tags: Tags
    activity_id: int | None = None

    @property
    def order(self) -> tuple[datetime, int, int]:
        return (self.at, 0 if self.activity_id is None else 1, self.activity_id or 0)


@dataclass
class LeadFacts:
    touches: list[LeadTouch]
    outcomes: dict[str, datetime]  # Outcome -> when first reached
    cents: int  # the deal value at Customer, in cents


# --- marking -------------------------------------------------------------------------------


def mark(lead_ids: Iterable[int], *, now: datetime | None = None) -> None:
    """Queue leads for a refresh (inside the caller's transaction)."""
    at = now or timezone.now()
    RefreshMark.objects.bulk_create(
        [RefreshMark(lead_id=pk, marked_at=at) for pk in sorted(set(lead_ids))]
    )


def mark_later(lead_id: int) -> None:
    """``mark`` now, or once for the whole batch inside a batch scope (bulk jobs)."""
    if not batchscope.defer("attribution.marks", mark, lead_id):
        mark([lead_id])


# --- deriving touches, outcomes and credits ------------------------------------------------


def _day(at: datetime) -> date:
    return timezone.localdate(at, timezone.get_default_timezone())


def _cents(value: Decimal | None) -> int:
    return int((value * 100).to_integral_value()) if value is not None else 0


def lead_facts(lead_ids: Sequence[int]) -> dict[int, LeadFacts]:
    """Touches (oldest first) and outcomes of the leads that exist, read set-based: four
    queries for the batch."""
    leads = {
        row["id"]: row
        for row in Lead.objects.filter(pk__in=lead_ids).values(
            "id",
            "created_at",
            "source",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            won=money.converted("deal_value", "currency"),
        )
    }
    entered: dict[int, dict[str, datetime]] = defaultdict(dict)
    for row in (
        StageChange.objects.filter(lead_id__in=leads)
        .values("lead_id", "to_stage")
        .annotate(at=Min("changed_at"))
    ):
        entered[row["lead_id"]][row["to_stage"]] = row["at"]
    first_activity = dict(
        Activity.objects.filter(lead_id__in=leads)
        .values("lead_id")
        .annotate(at=Min("occurred_at"))
        .values_list("lead_id", "at")
    )
    touches: dict[int, list[LeadTouch]] = defaultdict(list)
    activities = (
        Activity.objects.filter(lead_id__in=leads)
        .filter(Q(kind__in=MAYBE_TOUCH) | Q(properties__has_any_keys=_UTM_KEYS))
        .values_list("id", "lead_id", "kind", "occurred_at", "properties")
    )
    for activity_id, lead_id, kind, at, properties in activities.iterator(chunk_size=5000):
        tags = activity_tags(kind, properties)
        if tags is not None:
            touches[lead_id].append(LeadTouch(at, tags, activity_id))
    out: dict[int, LeadFacts] = {}
    for pk, lead in leads.items():
        stages = entered.get(pk, {})
        # the lead's record begins at its row, its first stage change or its first activity,
        # whichever is earliest: imports and backdated events carry history older than the row
        begun = [lead["created_at"], *stages.values(), first_activity.get(pk, lead["created_at"])]
        created_at = min(begun)
        created = LeadTouch(
            created_at,
            lead_tags(
                source=lead["source"],
                utm_source=lead["utm_source"],
                utm_medium=lead["utm_medium"],
                utm_campaign=lead["utm_campaign"],
            ),
        )
        reached: dict[str, datetime] = {}
        for outcome, stage_list in REACHED.items():
            times = [stages[s] for s in stage_list if s in stages]
            if times:
                reached[outcome] = min(times)
        out[pk] = LeadFacts(
            sorted([created, *touches.get(pk, [])], key=lambda t: t.order),
            reached,
            _cents(lead["won"]),
        )
    return out


def lead_credits(facts: LeadFacts, *, half_life_days: float) -> dict[Key, Vector]:
    """One lead's credits per outcome day and channel tags (touches with equal tags add up)."""
    out: dict[Key, Vector] = {}
    sql_at = facts.outcomes.get(Outcome.SQL)
    for outcome, at in facts.outcomes.items():
        before = [t for t in facts.touches if t.at <= at]
        shares = credit.weights(
            [credit.Point(t.at, t.activity_id is None) for t in before],
            sql_at=sql_at if outcome != Outcome.MQL else None,
            half_life_days=half_life_days,
        )
        cents = facts.cents if outcome == Outcome.CUSTOMER else 0
        day = _day(at)
        columns = []
        for name in credit.MODEL_NAMES:
            ppm = credit.to_ppm(shares[name])
            columns.append((ppm, credit.split_cents(cents, ppm)))
        for i, touch in enumerate(before):
            vector = out.setdefault((outcome, day, *touch.tags.key), [0] * len(VALUE_FIELDS))
            for m, (ppm, revenue) in enumerate(columns):
                vector[m] += ppm[i]
                vector[len(CREDIT_FIELDS) + m] += revenue[i]
    return out


def half_life_days() -> float:
    return float(settings.LEADFLOW_ATTRIBUTION_HALF_LIFE_DAYS)


# --- the refresh ---------------------------------------------------------------------------


def refresh(lead_ids: Sequence[int]) -> int:
    """Recompute the leads' touches and credits and move the rollup by the difference; call
    inside a transaction holding the refresh lock (``refresh_marked`` and ``rebuild`` do).
    Returns the number of leads refreshed (deleted ones included)."""
    ids = sorted(set(lead_ids))
    old: dict[Key, Vector] = defaultdict(lambda: [0] * len(VALUE_FIELDS))
    for row in LeadCredit.objects.filter(lead_id__in=ids).values(
        "outcome", "day", "source", "medium", "campaign", *VALUE_FIELDS
    ):
        key = (row["outcome"], row["day"], row["source"], row["medium"], row["campaign"])
        vector = old[key]
        for i, name in enumerate(VALUE_FIELDS):
            vector[i] -= row[name]
    facts = lead_facts(ids)
    half_life = half_life_days()
    touches, credits = [], []
    for pk, lead in facts.items():
        touches += [
            Touch(
                lead_id=pk,
                occurred_at=t.at,
                kind=t.tags.kind,
                source=t.tags.source,
                medium=t.tags.medium,
                campaign=t.tags.campaign,
                activity_id=t.activity_id,
            )
            for t in lead.touches
        ]
        for key, vector in lead_credits(lead, half_life_days=half_life).items():
            outcome, day, source, medium, campaign = key
            credits.append(
                LeadCredit(
                    lead_id=pk,
                    outcome=outcome,
                    day=day,
                    source=source,
                    medium=medium,
                    campaign=campaign,
                    **dict(zip(VALUE_FIELDS, vector, strict=True)),
                )
            )
            delta = old[key]
            for i, value in enumerate(vector):
                delta[i] += value
    Touch.objects.filter(lead_id__in=ids).delete()
    LeadCredit.objects.filter(lead_id__in=ids).delete()
    Touch.objects.bulk_create(touches, batch_size=2000)
    LeadCredit.objects.bulk_create(credits, batch_size=2000)
    rollup_add({k: v for k, v in old.items() if any(v)})
    return len(ids)


def rollup_add(delta: dict[Key, Vector]) -> None:
    """Add each key's vector to ``CreditDay`` (one upsert statement per 1,000 keys)."""
    if not delta:
        return
    table = CreditDay._meta.db_table
    keys = ("outcome", "day", "source", "medium", "campaign")
    columns = (*keys, *VALUE_FIELDS)
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in VALUE_FIELDS)
    items = sorted(delta.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), 1000):
            chunk = items[start : start + 1000]
            row = "(" + ", ".join(["%s"] * len(columns)) + ")"
            params: list[Any] = []
            for key, vector in chunk:
                params += [*key, *vector]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608  (our names)
                f"{', '.join([row] * len(chunk))} "
                f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}",
                params,
            )


@dataclass(frozen=True)
class SweepResult:
    leads: int
    batches: int
    seconds: float


def refresh_marked(*, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> SweepResult:
    """Refresh every marked lead, oldest mark first, ``batch_size`` marks per transaction.
    Only the marks read are removed (``RefreshMark``)."""
    started = time.perf_counter()
    leads = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            transaction_lock(_LOCK_KEY)
            marks = list(
                RefreshMark.objects.order_by("pk").values_list("pk", "lead_id")[:batch_size]
            )
            if not marks:
                break
            RefreshMark.objects.filter(pk__in=[pk for pk, _ in marks]).delete()
            ids = sorted({lead_id for _, lead_id in marks})
            leads += sum(deadletter.isolate(ids, refresh, kind=DEAD_REFRESH))
        batches += 1
    return SweepResult(leads, batches, time.perf_counter() - started)


def retry_lead(lead_id: int) -> None:
    """The dead-letter retry of one lead."""
    with transaction.atomic():
        transaction_lock(_LOCK_KEY)
        refresh([lead_id])


def rebuild(*, batch_size: int = 2000) -> SweepResult:
    """Everything from scratch: empty the tables, then refresh every lead by id range (after a
    change of the half-life, or a bulk load that bypassed the marks)."""
    started = time.perf_counter()
    with transaction.atomic():
        transaction_lock(_LOCK_KEY)
        for model in (RefreshMark, CreditDay, LeadCredit, Touch):
            model.objects.all().delete()
    leads = batches = 0
    last = 0
    while True:
        ids = list(
            Lead.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        with transaction.atomic():
            transaction_lock(_LOCK_KEY)
            leads += sum(deadletter.isolate(ids, refresh, kind=DEAD_REFRESH))
        last = ids[-1]
        batches += 1
    return SweepResult(leads, batches, time.perf_counter() - started)

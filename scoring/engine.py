# ruff: noqa: S608
# The compiler interpolates only table/column names of our own models, rule ids and numbers that
# passed validation (int()/float() again here); every user-written string is a query parameter.
"""The one evaluation: a model's rules applied to a batch of leads, and its write-back.

Layer: ``scoring → companies → leads → leadflow``. Every path — the dirty-lead sweep, a single
lead, the full rescore after publishing or for decay, the dry run and the breakdown — goes through
:func:`evaluate_rows` (read only) or :func:`write_scores` (evaluate and store), both of which
evaluate with the same compiled statement on PostgreSQL (aggregated in SQL, written back with one
statement per batch, which also marks the accounts of leads whose engagement changed) and with
``scoring.rules.evaluate`` on SQLite.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q

from companies.models import AccountRescoreMark, Membership
from leadflow.maildomains import free_mail_domains
from leads.lifecycle import Stage
from leads.models import Activity, Lead, Tag
from scoring import account_rules as ar
from scoring import rules as r
from scoring.models import LeadScore, ScoringModel, ScoringRule

# Stages from MQL on: a lead there with a score at or over the MQL threshold is not armed.
PAST_MQL: tuple[str, ...] = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.CUSTOMER)
LEAD_FIELDS: tuple[str, ...] = tuple(sorted(r.FIT_FIELDS))


def reads_custom(spec: r.ModelSpec) -> bool:
    """Whether a fit rule reads a custom field (then the lead's ``custom`` is read)."""
    return any(
        x.kind == r.KIND_FIT and x.op != "free_mail" and r.custom_key(x.field) is not None
        for x in spec.rules
    )


def reads_tags(spec: r.ModelSpec) -> bool:
    return any(
        x.kind == r.KIND_FIT and x.op != "free_mail" and x.field == r.TAGS for x in spec.rules
    )


@dataclass(frozen=True)
class Row:
    lead_id: int
    fit: int
    engagement: int
    grade: str
    breakdown: list[list[int]]  # [[rule_id, count, points, undecayed], ...] by rule id
    stage: str

    @property
    def score(self) -> int:
        return self.fit + self.engagement


# --- specs --------------------------------------------------------------------------------------


def _decay(kind: str, half_life: float | None, steps: Any) -> r.Decay:
    if kind == "half_life":
        return r.Decay("half_life", half_life_days=half_life)
    if kind == "step":
        return r.Decay("step", steps=tuple((float(a), float(f)) for a, f in steps or ()))
    return r.Decay("none")


def rule_spec(rule: ScoringRule, model: ScoringModel) -> r.RuleSpec:
    if rule.decay == ScoringRule.Decay.MODEL:
        decay = _decay(model.decay, model.half_life_days, model.decay_steps)
    else:
        decay = _decay(rule.decay, rule.half_life_days, rule.decay_steps)
    return r.RuleSpec(
        rule_id=rule.pk,
        name=rule.name,
        kind=rule.kind,
        points=rule.points,
        activity_kind=rule.activity_kind,
        conditions=tuple(
            r.Condition(c["property"], c["op"], c.get("value")) for c in rule.conditions or ()
        ),
        repeatable=rule.repeatable,
        max_count=rule.max_count,
        max_points=rule.max_points,
        window_days=rule.window_days,
        window_max=rule.window_max,
        decay=decay,
        inactive_days=rule.inactive_days,
        field=rule.field,
        op=rule.op,
        value=rule.value,
    )


def model_spec(model: ScoringModel) -> r.ModelSpec:
    """The lead rules of ``model`` (account fit rules score accounts: ``account_spec``)."""
    lead_rules = model.rules.exclude(kind=ScoringRule.Kind.ACCOUNT_FIT).order_by("id")
    return r.ModelSpec(
        rules=tuple(rule_spec(rule, model) for rule in lead_rules),
        grade_a_min=model.grade_a_min,
        grade_b_min=model.grade_b_min,
        grade_c_min=model.grade_c_min,
    )


def account_spec(model: ScoringModel) -> ar.AccountSpec:
    """The account fit rules and the ``account_*`` settings of ``model``."""
    rules = model.rules.filter(kind=ScoringRule.Kind.ACCOUNT_FIT).order_by("id")
    return ar.AccountSpec(
        rules=tuple(rule_spec(rule, model) for rule in rules),
        grade_a_min=model.grade_a_min,
        grade_b_min=model.grade_b_min,
        grade_c_min=model.grade_c_min,
        engaged_min=model.account_engaged_min,
        engagement_cap=model.account_engagement_cap,
        member_points=model.account_member_points,
        member_cap=model.account_member_cap,
        role_points=model.account_role_points,
    )


# --- the SQL compiler (PostgreSQL) ------------------------------------------------------------


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any, cast: str = "") -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s{cast}"


def _num(value: float) -> str:
    """A float literal (ours, from validated numbers): keeps the plan independent of params."""
    return f"{float(value)!r}::float8"


def _condition_sql(cond: r.Condition, p: _Params) -> str:
    text = f"(a.properties ->> {p(cond.property)})"
    if cond.op == "exists":
        return f"(a.properties ? {p(cond.property)})"
    if cond.op == "equals":
        return f"({text} = {p(str(cond.value))})"
    if cond.op == "not_equals":
        return f"({text} IS DISTINCT FROM {p(str(cond.value))})"
    if cond.op == "contains":
        return f"(strpos({text}, {p(str(cond.value))}) > 0)"
    if cond.op == "not_contains":
        return f"(coalesce(strpos({text}, {p(str(cond.value))}), 0) = 0)"
    if cond.op == "starts_with":
        return f"starts_with({text}, {p(str(cond.value))})"
    if cond.op == "in":
        return f"({text} = ANY({p([str(v) for v in cond.value], '::text[]')}))"
    raise ValueError(cond.op)


# The patterns of scoring.rules.NUMBER_RE / DATE_RE (a value at_least/below can compare)
_NUMBER_SQL = "'^-?[0-9]+(\\.[0-9]+)?$'"
_DATE_SQL = "'^[0-9]{4}-[0-9]{2}-[0-9]{2}'"


def _lowered(rule: r.RuleSpec, p: _Params) -> str:
    return p([str(v).lower() for v in rule.value], "::text[]")


def _tags_sql(rule: r.RuleSpec, p: _Params) -> str:
    """EXISTS over the lead's tags (the lead-tag table joined to the tag names)."""
    through = Lead.tags.through._meta.db_table
    if rule.op == "is_empty":
        test = f"EXISTS (SELECT 1 FROM {through} lt WHERE lt.lead_id = l.id)"
        return f"(NOT {test})" if rule.value else test
    test = (
        f"EXISTS (SELECT 1 FROM {through} lt JOIN {Tag._meta.db_table} tg ON tg.id = lt.tag_id "
        f"WHERE lt.lead_id = l.id AND lower(tg.name) = ANY({_lowered(rule, p)}))"
    )
    if rule.op == "in":
        return test
    if rule.op == "not_in":
        return f"(NOT {test})"
    raise ValueError(rule.op)


def _custom_sql(rule: r.RuleSpec, key: str, p: _Params) -> str:
    """A custom field rule on ``l.custom`` (scoring.rules.fit_matches gives the same answers)."""
    name = p(key)
    text = f"(l.custom ->> {name})"
    if rule.op in r.ORDER_OPS:
        cmp = ">=" if rule.op == "at_least" else "<"
        if isinstance(rule.value, str):  # a date: ISO text, compared byte by byte
            return (
                f"CASE WHEN {text} ~ {_DATE_SQL} "
                f'THEN {text} COLLATE "C" {cmp} {p(rule.value, "::text")} END'
            )
        return (
            f"CASE WHEN {text} ~ {_NUMBER_SQL} "
            f"THEN {text}::numeric {cmp} {p(str(rule.value), '::numeric')} END"
        )
    col = f"lower(coalesce({text}, ''))"
    if rule.op in ("in", "not_in"):
        values = _lowered(rule, p)
        value = f"(l.custom -> {name})"
        # a multiple choice holds any of the values: lower-cased array ?| values
        test = (
            f"(CASE WHEN jsonb_typeof({value}) = 'array' "
            f"THEN lower({value}::text)::jsonb ?| {values} ELSE {col} = ANY({values}) END)"
        )
        return test if rule.op == "in" else f"(NOT {test})"
    return _text_sql(rule, col, p)


def _text_sql(rule: r.RuleSpec, col: str, p: _Params) -> str:
    if rule.op == "in":
        return f"({col} = ANY({_lowered(rule, p)}))"
    if rule.op == "not_in":
        return f"(NOT ({col} = ANY({_lowered(rule, p)})))"
    if rule.op == "contains_any":
        return f"EXISTS (SELECT 1 FROM unnest({_lowered(rule, p)}) k WHERE strpos({col}, k) > 0)"
    if rule.op == "is_empty":
        return f"(({col} = '') = {'true' if rule.value else 'false'})"
    raise ValueError(rule.op)


def _fit_sql(rule: r.RuleSpec, p: _Params) -> str:
    if rule.op == "free_mail":
        test = f"(lower(l.domain) = ANY({p(sorted(free_mail_domains()), '::text[]')}))"
        return test if rule.value else f"(NOT {test})"
    if rule.field == r.TAGS:
        return _tags_sql(rule, p)
    if (key := r.custom_key(rule.field)) is not None:
        return _custom_sql(rule, key, p)
    col = f"lower(l.{connection.ops.quote_name(rule.field)})"
    return _text_sql(rule, col, p)


def _windowed(rule: r.RuleSpec) -> bool:
    return bool(rule.window_days) and rule.window_max is not None


def _weight_sql(decay: r.Decay, age: str) -> str:
    if decay.kind == "half_life" and decay.half_life_days:
        return f"power(0.5::float8, {age} / {_num(decay.half_life_days)})"
    if decay.kind == "step" and decay.steps:
        whens = " ".join(
            f"WHEN {age} >= {_num(a)} THEN {_num(f)}" for a, f in reversed(decay.steps)
        )
        return f"(CASE {whens} ELSE 1.0::float8 END)"
    return "1.0::float8"


def _clamp_sql(expr: str, max_points: int | None) -> str:
    if max_points is None:
        return expr
    return f"greatest({-int(max_points)}, least({int(max_points)}, {expr}))"


@dataclass(frozen=True)
class IdRange:
    """Every lead with ``lo <= id <= hi``: a full rescore's batch. Read as one range scan of each
    index instead of one probe per id (which an id array costs)."""

    lo: int
    hi: int


Batch = Sequence[int] | IdRange


def _in_batch(column: str, batch: str) -> str:
    if batch == "range":
        return f"{column} BETWEEN %(lo)s AND %(hi)s"
    return f"{column} = ANY(%(ids)s::bigint[])"


def _batch_kind(ids: Batch) -> str:
    return "range" if isinstance(ids, IdRange) else "ids"


def batch_q(ids: Batch, field: str = "pk") -> Q:
    """The batch as an ORM filter on ``field`` (a lead id)."""
    if isinstance(ids, IdRange):
        # gte/lte, not range: a foreign key (LeadScore.lead_id) takes no range lookup
        return Q(**{f"{field}__gte": ids.lo, f"{field}__lte": ids.hi})
    return Q(**{f"{field}__any": ids})


def _batch_params(ids: Batch) -> dict[str, Any]:
    if isinstance(ids, IdRange):
        return {"lo": ids.lo, "hi": ids.hi}
    return {"ids": sorted(ids)}


def _activities_sql(spec: r.ModelSpec, p: _Params, batch: str, now: str) -> str:
    """The batch's counted activities with one match flag per activity rule.

    Kinds that a rule with property conditions looks at are read from the table (``properties``
    lives there); every other kind comes from the covering ``(lead_id, occurred_at, kind)`` index
    alone (an index-only scan). With inactivity rules every kind is read: the newest activity of
    any kind counts for them.
    """
    act_t = Activity._meta.db_table
    activity_rules = [x for x in spec.rules if x.kind == r.KIND_ACTIVITY]
    heap_kinds = sorted({x.activity_kind for x in activity_rules if x.conditions})
    index_kinds = sorted({x.activity_kind for x in activity_rules} - set(heap_kinds))
    all_kinds = any(x.kind == r.KIND_INACTIVITY for x in spec.rules)

    def branch(heap: bool, kinds_sql: str) -> str:
        cols = ["a.lead_id", "a.occurred_at"]
        for x in activity_rules:
            if (x.activity_kind in heap_kinds) != heap:
                cols.append(f"false AS m{x.rule_id}")
                continue
            tests = [f"a.kind = {p(x.activity_kind)}"] + [
                _condition_sql(c, p) for c in x.conditions
            ]
            cols.append(f"({' AND '.join(tests)}) AS m{x.rule_id}")
        # Engagement resets are rare: an anti-join against the few reset leads costs less than
        # joining every activity to its lead.
        return (
            f"SELECT {', '.join(cols)} FROM {act_t} a "
            f"WHERE {_in_batch('a.lead_id', batch)} AND a.occurred_at <= {now}{kinds_sql} "
            "AND NOT EXISTS (SELECT 1 FROM l WHERE l.score_reset_at IS NOT NULL "
            "AND l.id = a.lead_id AND a.occurred_at < l.score_reset_at)"
        )

    branches = []
    if all_kinds:
        branches.append(
            branch(False, f" AND a.kind <> ALL({p(heap_kinds, '::text[]')})" if heap_kinds else "")
        )
    elif index_kinds:
        branches.append(branch(False, f" AND a.kind = ANY({p(index_kinds, '::text[]')})"))
    if heap_kinds:
        branches.append(branch(True, f" AND a.kind = ANY({p(heap_kinds, '::text[]')})"))
    return (
        f"SELECT b.*, date_part('epoch', {now} - b.occurred_at) / 86400.0::float8 AS age "
        f"FROM ({' UNION ALL '.join(branches)}) b"
    )


def _ranked_sql(x: r.RuleSpec) -> str:
    """A capped or windowed rule: its matches ranked newest first, the kept ones counted.

    Matches that tie on ``occurred_at`` have the same age, bucket and weight, so which of them a
    cap keeps does not change the count or the points: no tie-break column is needed.
    """
    rows = f"SELECT lead_id, occurred_at, age FROM acts WHERE m{x.rule_id}"
    if _windowed(x):
        width = _num(float(x.window_days or 1) * r.DAY)
        rows = (
            "SELECT * FROM (SELECT w.*, row_number() OVER (PARTITION BY w.lead_id, "
            f"floor(date_part('epoch', w.occurred_at) / {width}) "
            f"ORDER BY w.occurred_at DESC) AS rn_w FROM ({rows}) w) ww "
            f"WHERE ww.rn_w <= {int(x.window_max or 0)}"
        )
    if x.keep is not None:
        rows = (
            "SELECT * FROM (SELECT k.*, row_number() OVER (PARTITION BY k.lead_id "
            f"ORDER BY k.occurred_at DESC) AS rn FROM ({rows}) k) kk WHERE kk.rn <= {int(x.keep)}"
        )
    return (
        f"SELECT z.lead_id, count(*) AS c, sum({_weight_sql(x.decay, 'z.age')}) AS s "
        f"FROM ({rows}) z GROUP BY z.lead_id"
    )


# What is stored now (the lead's totals, its LeadScore row), carried after an evaluation row's
# own columns so that writing compares without reading either table again (see _write_sql).
_STORED = (
    ("l.fit_score", "old_fit"),
    ("l.engagement_score", "old_eng"),
    ("l.grade", "old_grade"),
    ("s.model_id", "stored_model"),
    ("s.grade", "stored_grade"),
    ("s.breakdown", "stored_bd"),
    ("s.scored_at", "stored_at"),
)
_STORED_NAMES = ", ".join(alias for _, alias in _STORED)


def _compile(spec: r.ModelSpec, batch: str = "ids") -> tuple[str, dict[str, Any]]:
    """The evaluation as one SELECT over the batch (``%(ids)s``, or ``%(lo)s``..``%(hi)s`` for
    ``batch="range"``) as of ``%(now)s``.

    Columns: lead_id, stage, fit, eng, grade, bd (jsonb breakdown), old_score, armed, then
    the stored values writing compares with (``_STORED_NAMES``).

    One row per lead, no per-rule rows: activities are aggregated once per lead (one column pair
    per rule); only capped/windowed rules rank their own matches; fit and inactivity rules are
    expressions on the lead's row; the breakdown is assembled as text and cast once.
    """
    p = _Params()
    lead_t, score_t = Lead._meta.db_table, LeadScore._meta.db_table
    now = "%(now)s::timestamptz"
    rules = sorted(spec.rules, key=lambda x: x.rule_id)
    activity_rules = [x for x in rules if x.kind == r.KIND_ACTIVITY]
    inactivity_rules = [x for x in rules if x.kind == r.KIND_INACTIVITY]
    fit_cols = ", ".join(f"l.{connection.ops.quote_name(f)}" for f in LEAD_FIELDS)
    if reads_custom(spec):  # only then: models without custom rules compile as before
        fit_cols += ", l.custom"
    ctes = [
        "l AS (SELECT l.id, l.stage, l.score, l.fit_score, l.engagement_score, l.grade, "
        f"l.created_at, l.score_reset_at, {fit_cols} "
        f"FROM {lead_t} l WHERE {_in_batch('l.id', batch)})"
    ]
    joins = [f"LEFT JOIN {score_t} s ON s.lead_id = l.id AND {_in_batch('s.lead_id', batch)}"]
    values: list[str] = []  # the per-rule columns of v
    if activity_rules or inactivity_rules:
        ctes.append(f"acts AS ({_activities_sql(spec, p, batch, now)})")
        aggs = []
        for x in activity_rules:
            m, i = f"m{x.rule_id}", x.rule_id
            if _windowed(x) or (x.keep or 1) > 1:
                ctes.append(f"r{i} AS ({_ranked_sql(x)})")
                joins.append(f"LEFT JOIN r{i} ON r{i}.lead_id = l.id")
                c, s = f"r{i}.c", f"r{i}.s"
            elif x.keep == 1:  # once: only the newest match, whose age is the smallest
                aggs.append(
                    f"least(count(*) FILTER (WHERE {m}), 1) AS c{i}, "
                    f"CASE WHEN bool_or({m}) THEN "
                    f"{_weight_sql(x.decay, f'min(age) FILTER (WHERE {m})')} END AS s{i}"
                )
                c, s = f"sa.c{i}", f"sa.s{i}"
            else:
                aggs.append(
                    f"count(*) FILTER (WHERE {m}) AS c{i}, "
                    f"sum({_weight_sql(x.decay, 'age')}) FILTER (WHERE {m}) AS s{i}"
                )
                c, s = f"sa.c{i}", f"sa.s{i}"
            values.append(
                f"coalesce({c}, 0) AS c{i}, "
                + _clamp_sql(
                    f"floor({int(x.points)} * coalesce({s}, 0) + 0.5)::bigint", x.max_points
                )
                + f" AS p{i}, "
                + _clamp_sql(f"{int(x.points)} * coalesce({c}, 0)", x.max_points)
                + f" AS u{i}"
            )
        if inactivity_rules:
            aggs.append("max(occurred_at) AS last_at")
        if aggs:
            ctes.append(f"sa AS (SELECT lead_id, {', '.join(aggs)} FROM acts GROUP BY lead_id)")
            joins.append("LEFT JOIN sa ON sa.lead_id = l.id")
        for x in inactivity_rules:
            last = "coalesce(sa.last_at, l.score_reset_at, l.created_at)"
            values.append(
                f"(date_part('epoch', {now} - {last}) / 86400.0::float8 "
                f">= {_num(x.inactive_days or 0)}) AS h{x.rule_id}"
            )
    for x in rules:
        if x.kind == r.KIND_FIT:
            values.append(f"coalesce({_fit_sql(x, p)}, false) AS h{x.rule_id}")
    entries, fit_terms, eng_terms = [], ["0"], ["0"]
    for x in rules:
        i, pts = x.rule_id, int(x.points)
        if x.kind == r.KIND_ACTIVITY:
            entries.append(
                f"CASE WHEN v.c{i} > 0 THEN '[{i},' || v.c{i} || ',' || v.p{i} || ',' "
                f"|| v.u{i} || ']' END"
            )
            eng_terms.append(f"v.p{i}")
        else:
            entries.append(f"CASE WHEN v.h{i} THEN '[{i},1,{pts},{pts}]' END")
            terms = fit_terms if x.kind == r.KIND_FIT else eng_terms
            terms.append(f"CASE WHEN v.h{i} THEN {pts} ELSE 0 END")
    breakdown = (
        f"('[' || array_to_string(ARRAY[{', '.join(entries)}]::text[], ',') || ']')::jsonb"
        if entries
        else "'[]'::jsonb"
    )
    grade = (
        f"CASE WHEN e.fit >= {int(spec.grade_a_min)} THEN 'A' "
        f"WHEN e.fit >= {int(spec.grade_b_min)} THEN 'B' "
        f"WHEN e.fit >= {int(spec.grade_c_min)} THEN 'C' ELSE 'D' END"
    )
    stored = ", ".join(f"{column} AS {alias}" for column, alias in _STORED)
    v = (
        f"SELECT l.id, l.stage, l.score AS old_score, s.mql_armed AS armed, {stored}"
        + "".join(f", {x}" for x in values)
        + f" FROM l {' '.join(joins)} OFFSET 0"
    )
    e = (
        f"SELECT v.id, v.stage, ({' + '.join(fit_terms)})::int AS fit, "
        f"({' + '.join(eng_terms)})::int AS eng, {breakdown} AS bd, v.old_score, v.armed, "
        f"{_STORED_NAMES} FROM v OFFSET 0"
    )
    ctes.append(f"v AS ({v})")
    ctes.append(f"e AS ({e})")
    sql = (
        f"WITH {', '.join(ctes)} "
        f"SELECT e.id AS lead_id, e.stage, e.fit, e.eng, {grade} AS grade, e.bd, e.old_score, "
        f"e.armed, {_STORED_NAMES} FROM e"
    )
    return sql, p.values


_cache: dict[tuple[int, str, str], tuple[str, dict[str, Any]]] = {}


def compiled(model: ScoringModel, spec: r.ModelSpec, batch: str) -> tuple[str, dict[str, Any]]:
    """Compile once per model version and batch kind (published models never change; drafts
    recompile)."""
    if model.status == ScoringModel.Status.DRAFT:
        return _compile(spec, batch)
    key = (model.pk, model.status, batch)
    if key not in _cache:
        _cache[key] = _compile(spec, batch)
    return _cache[key]


def _session_tuning(cursor: Any) -> None:
    # Measured: JIT compiles this statement for longer than it runs at 10k leads; Debian's
    # random_page_cost = 4 makes the planner scan all activities (PERFORMANCE-NOTES.md); the
    # default 4 MB work_mem spills the batch's sorts to disk; parallel workers only add start-up
    # cost at this size on a small box. One round trip for all four.
    cursor.execute(
        "SELECT set_config('jit', 'off', true), set_config('random_page_cost', '1.1', true), "
        "set_config('work_mem', '64MB', true), "
        "set_config('max_parallel_workers_per_gather', '0', true)"
    )


# --- evaluate (read only) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluated(Row):
    old_score: int
    armed: bool | None  # None: never scored


def evaluate_rows(
    *, model: ScoringModel, spec: r.ModelSpec, ids: Batch, now: datetime
) -> list[Evaluated]:
    """Evaluate ``model`` for the leads ``ids`` as of ``now``; writes nothing."""
    if not ids:
        return []
    if connection.vendor == "postgresql":
        sql, params = compiled(model, spec, _batch_kind(ids))
        with connection.cursor() as cursor:
            _session_tuning(cursor)
            cursor.execute(sql, {**params, **_batch_params(ids), "now": now})
            rows = cursor.fetchall()
        return [
            Evaluated(
                lead_id=lead_id,
                fit=fit,
                engagement=eng,
                grade=grade,
                breakdown=json.loads(bd) if isinstance(bd, str) else bd,
                stage=stage,
                old_score=old,
                armed=armed,
            )
            for lead_id, stage, fit, eng, grade, bd, old, armed, *_stored in rows
        ]
    return _evaluate_python(spec=spec, ids=ids, now=now)


def id_list(ids: Batch) -> Sequence[int]:
    if isinstance(ids, IdRange):
        return list(Lead.objects.filter(batch_q(ids)).values_list("pk", flat=True))
    return ids


def _evaluate_python(*, spec: r.ModelSpec, ids: Batch, now: datetime) -> list[Evaluated]:
    ids = id_list(ids)
    custom = ("custom",) if reads_custom(spec) else ()
    leads = {
        row["id"]: row
        for row in Lead.objects.filter(pk__in=ids).values(
            "id", "stage", "score", "created_at", "score_reset_at", *LEAD_FIELDS, *custom
        )
    }
    if reads_tags(spec):  # the batch's tag names in one query
        for lead in leads.values():
            lead["tags"] = []
        through = Lead.tags.through.objects.filter(lead_id__in=list(leads))
        for lead_id, name in through.values_list("lead_id", "tag__name"):
            leads[lead_id]["tags"].append(name)
    armed = dict(LeadScore.objects.filter(lead_id__in=ids).values_list("lead_id", "mql_armed"))
    acts: dict[int, list[r.ActivityRow]] = {i: [] for i in leads}
    qs = Activity.objects.filter(lead_id__in=list(leads), occurred_at__lte=now)
    if not any(x.kind == r.KIND_INACTIVITY for x in spec.rules):
        qs = qs.filter(kind__in={x.activity_kind for x in spec.rules if x.kind == r.KIND_ACTIVITY})
    for aid, lead_id, kind, at, props in qs.values_list(
        "id", "lead_id", "kind", "occurred_at", "properties"
    ):
        acts[lead_id].append(r.ActivityRow(aid, kind, at, props or {}))
    out = []
    for lead_id in sorted(leads):
        lead = leads[lead_id]
        ev = r.evaluate(spec, lead=lead, activities=acts[lead_id], now=now)
        out.append(
            Evaluated(
                lead_id=lead_id,
                fit=ev.fit,
                engagement=ev.engagement,
                grade=ev.grade,
                breakdown=[[x.rule_id, x.count, x.points, x.undecayed] for x in ev.rules],
                stage=lead["stage"],
                old_score=lead["score"],
                armed=armed.get(lead_id),
            )
        )
    return out


# --- evaluate and write -----------------------------------------------------------------------


def initial_armed(*, score: int, stage: str, mql_threshold: int) -> bool:
    """A lead scored for the first time is armed unless it is already past (or out of) MQL."""
    return score < mql_threshold or stage in (Stage.SUSPECT, Stage.LEAD)


def write_scores(
    *,
    model: ScoringModel,
    spec: r.ModelSpec,
    ids: Batch,
    now: datetime,
    mark_accounts: bool = True,
) -> int:
    """Evaluate and store scores for ``ids``; returns how many lead rows changed.

    Call inside a transaction. Rows already scored by a later evaluation (``scored_at`` after
    ``now``: the dirty sweep ran meanwhile) are left alone, as are rows whose evaluation did not
    change: an unchanged score writes nothing.

    The current accounts of the leads whose ``engagement_score`` this write changed are marked
    for the account sweep (``AccountRescoreMark``), in the same statement on PostgreSQL: an
    account reads nothing else of its members' scores, so a lead whose fit, grade or breakdown
    alone changed marks nothing. ``mark_accounts=False`` leaves the marks out (the benchmark's
    baseline).
    """
    if not ids:
        return 0
    if connection.vendor == "postgresql":
        return _write_sql(model=model, spec=spec, ids=ids, now=now, mark_accounts=mark_accounts)
    return _write_python(model=model, spec=spec, ids=ids, now=now, mark_accounts=mark_accounts)


def _write_sql(
    *,
    model: ScoringModel,
    spec: r.ModelSpec,
    ids: Batch,
    now: datetime,
    mark_accounts: bool,
) -> int:
    batch = _batch_kind(ids)
    sql, params = compiled(model, spec, batch)
    lead_t, score_t = Lead._meta.db_table, LeadScore._meta.db_table
    member_t, mark_t = Membership._meta.db_table, AccountRescoreMark._meta.db_table
    past = ", ".join(f"'{s}'" for s in PAST_MQL) + ", 'nurture', 'disqualified'"
    values = "%(model_id)s, ev.fit + ev.eng, ev.fit, ev.eng, ev.grade, ev.bd, %(now)s"
    statement = (
        f"WITH ev AS MATERIALIZED ({sql}), "
        # only evaluations that differ from the stored one are written (a row lock and a new
        # row version each, else). No stored row: armed is NULL (the column is NOT NULL)
        "ch AS (SELECT * FROM ev WHERE ev.armed IS NULL OR (ev.stored_at <= %(now)s AND "
        "(ev.stored_model, ev.stored_grade, ev.stored_bd) "
        "IS DISTINCT FROM (%(model_id)s, ev.grade, ev.bd))), "
        # a stored row: one UPDATE joined on the batch's own rows. INSERT ... ON CONFLICT DO
        # UPDATE took an index probe, a row lock (WAL-logged) and then the update for each
        f"su AS (UPDATE {score_t} s SET (model_id, score, fit_score, engagement_score, grade, "
        f"breakdown, scored_at) = ({values}), mql_armed = s.mql_armed OR ev.fit + ev.eng "
        f"< %(mql_t)s FROM ch ev WHERE ev.armed IS NOT NULL AND s.lead_id = ev.lead_id AND "
        f"{_in_batch('s.lead_id', batch)} AND s.scored_at <= %(now)s), "
        # none: inserted (a concurrent first score of the same lead, by the other of the sweep
        # and a full rescore, becomes the update as before)
        f"si AS (INSERT INTO {score_t} AS s (model_id, score, fit_score, engagement_score, "
        f"grade, breakdown, scored_at, lead_id, mql_armed) SELECT {values}, ev.lead_id, "
        f"(ev.fit + ev.eng < %(mql_t)s OR ev.stage NOT IN ({past})) FROM ch ev "
        "WHERE ev.armed IS NULL "
        "ON CONFLICT (lead_id) DO UPDATE SET model_id = EXCLUDED.model_id, "
        "score = EXCLUDED.score, fit_score = EXCLUDED.fit_score, "
        "engagement_score = EXCLUDED.engagement_score, grade = EXCLUDED.grade, "
        "breakdown = EXCLUDED.breakdown, scored_at = EXCLUDED.scored_at, "
        "mql_armed = s.mql_armed OR EXCLUDED.score < %(mql_t)s "
        "WHERE s.scored_at <= EXCLUDED.scored_at), "
        # only leads whose totals differ are updated; the batch condition lets the planner read
        # just the batch's lead rows (it hashed the whole table for 10,000 ids)
        f"lu AS (UPDATE {lead_t} l SET score = ev.fit + ev.eng, fit_score = ev.fit, "
        f"engagement_score = ev.eng, grade = ev.grade, scored_at = %(now)s "
        "FROM ev WHERE (ev.old_score, ev.old_fit, ev.old_eng, ev.old_grade) "
        "IS DISTINCT FROM (ev.fit + ev.eng, ev.fit, ev.eng, ev.grade) AND l.id = ev.lead_id "
        f"AND {_in_batch('l.id', batch)} AND (l.scored_at IS NULL OR l.scored_at <= %(now)s) "
        "RETURNING l.id, ev.eng IS DISTINCT FROM ev.old_eng AS eng_changed) "
    )
    if mark_accounts:
        # the accounts of the leads whose engagement this statement changed (the rows the
        # UPDATE returned: not a second pass over the batch), by the one-current-membership
        # index on lead_id
        statement += (
            f", mk AS (INSERT INTO {mark_t} (account_id, marked_at) "
            f"SELECT DISTINCT m.account_id, %(now)s FROM lu JOIN {member_t} m "
            "ON m.lead_id = lu.id AND m.ended_at IS NULL "
            "WHERE lu.eng_changed AND m.account_id IS NOT NULL) "
        )
    statement += "SELECT count(*) FROM lu"
    with connection.cursor() as cursor:
        _session_tuning(cursor)
        cursor.execute(
            statement,
            {
                **params,
                **_batch_params(ids),
                "now": now,
                "model_id": model.pk,
                "mql_t": model.mql_threshold,
            },
        )
        return int(cursor.fetchone()[0])


def _write_python(
    *,
    model: ScoringModel,
    spec: r.ModelSpec,
    ids: Batch,
    now: datetime,
    mark_accounts: bool,
) -> int:
    ids = id_list(ids)
    rows = _evaluate_python(spec=spec, ids=ids, now=now)
    existing = {s.lead_id: s for s in LeadScore.objects.filter(lead_id__in=ids)}
    leads = {
        row["id"]: row
        for row in Lead.objects.filter(pk__in=ids).values(
            "id", "score", "fit_score", "engagement_score", "grade", "scored_at"
        )
    }
    written = 0
    engaged: list[int] = []  # leads whose engagement changed: their accounts are marked
    for row in rows:
        current = existing.get(row.lead_id)
        if current is None:
            LeadScore.objects.create(
                lead_id=row.lead_id,
                model=model,
                score=row.score,
                fit_score=row.fit,
                engagement_score=row.engagement,
                grade=row.grade,
                breakdown=row.breakdown,
                scored_at=now,
                mql_armed=initial_armed(
                    score=row.score, stage=row.stage, mql_threshold=model.mql_threshold
                ),
            )
        elif current.scored_at <= now and (current.model_id, current.grade, current.breakdown) != (
            model.pk,
            row.grade,
            row.breakdown,
        ):
            LeadScore.objects.filter(pk=row.lead_id).update(
                model=model,
                score=row.score,
                fit_score=row.fit,
                engagement_score=row.engagement,
                grade=row.grade,
                breakdown=row.breakdown,
                scored_at=now,
                mql_armed=current.mql_armed or row.score < model.mql_threshold,
            )
        lead = leads[row.lead_id]
        if lead["scored_at"] is not None and lead["scored_at"] > now:
            continue
        changed = (lead["score"], lead["fit_score"], lead["engagement_score"], lead["grade"]) != (
            row.score,
            row.fit,
            row.engagement,
            row.grade,
        )
        if changed:
            Lead.objects.filter(pk=row.lead_id).update(
                score=row.score,
                fit_score=row.fit,
                engagement_score=row.engagement,
                grade=row.grade,
                scored_at=now,
            )
            written += 1
            if row.engagement != lead["engagement_score"]:
                engaged.append(row.lead_id)
    if mark_accounts and engaged:
        accounts = Membership.objects.filter(
            lead_id__in=engaged, ended_at__isnull=True, account__isnull=False
        ).values_list("account_id", flat=True)
        AccountRescoreMark.objects.bulk_create(
            AccountRescoreMark(account_id=pk, marked_at=now) for pk in sorted(set(accounts))
        )
    return written

# ruff: noqa: S608
# The compiler interpolates only table/column names of our own models, rule ids and numbers that
# passed validation (int() again here); every user-written string is a query parameter.
"""Account scores for a batch of accounts: evaluated and stored.

Layer: ``scoring → companies → leads``. On PostgreSQL one statement per batch aggregates the
accounts' current members joined to their leads, applies the account fit rules as CASE
expressions and upserts ``AccountScore`` (unchanged rows are not written). On SQLite (and for
one account, and the breakdown) the pure ``scoring.account_rules.evaluate_account`` does the
same; the property test checks that the two agree.
"""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from companies.models import Account, Membership
from leads.models import Lead
from scoring import account_rules as ar
from scoring import engine
from scoring.models import AccountScore, ScoringModel

# From this many accounts a batch joins the members to the leads by hashing one scan of each
# table; fewer probe each member's lead by its primary key. Measured at 1M leads (106k accounts,
# docs/benchmarks.md "Accounts"): probing cost 0.78 s per 10,000 accounts, mostly random reads
# of lead rows; the hash join about 1.1 s whatever the batch. A full rescore (a published model)
# sweeps in such wide batches (``scoring.services.account_scores_sweep``).
HASH_JOIN_MIN = 20_000
WIDE_BATCH = 200_000  # accounts a sweep batch takes when at least HASH_JOIN_MIN are marked


def _compile(spec: ar.AccountSpec, *, accounts: int) -> tuple[str, dict[str, Any]]:
    """The evaluation of ``%(ids)s`` (``accounts`` of them) as one SELECT: account_id, fit,
    eng, grade, bd (jsonb)."""
    p = engine._Params()
    account_t, member_t, lead_t = (
        Account._meta.db_table,
        Membership._meta.db_table,
        Lead._meta.db_table,
    )
    cols = ", ".join(f"a.{connection.ops.quote_name(f)}" for f in ar.ACCOUNT_FIELDS)
    rules = sorted(spec.rules, key=lambda x: x.rule_id)
    hits = [
        (x, engine._text_sql(x, f"lower(coalesce(a.{connection.ops.quote_name(x.field)}, ''))", p))
        for x in rules
    ]
    fit = " + ".join(["0", *(f"CASE WHEN coalesce({t}, false) THEN {int(x.points)} ELSE 0 END"
                             for x, t in hits)])  # fmt: skip
    entries = [
        f"CASE WHEN coalesce({t}, false) THEN '[{int(x.rule_id)},{int(x.points)}]' END"
        for x, t in hits
    ]
    rules_json = (
        f"('[' || array_to_string(ARRAY[{', '.join(entries)}]::text[], ',') || ']')::jsonb"
        if entries
        else "'[]'::jsonb"
    )
    grade = (
        f"CASE WHEN v.fit >= {int(spec.grade_a_min)} THEN 'A' "
        f"WHEN v.fit >= {int(spec.grade_b_min)} THEN 'B' "
        f"WHEN v.fit >= {int(spec.grade_c_min)} THEN 'C' ELSE 'D' END"
    )
    # role values are our own identifiers; the names in sorted order, as the pure function's
    by_name = sorted(ar.ROLE_BITS.items())
    whens = " ".join(f"WHEN '{role}' THEN {bit}" for role, bit in by_name)
    role_bit = f"CASE role {whens} ELSE 0 END"
    role_count = " + ".join(f"(coalesce(agg.rb, 0) & {bit} > 0)::int" for _r, bit in by_name)
    role_names = ", ".join(
        f"CASE WHEN coalesce(agg.rb, 0) & {bit} > 0 THEN '{role}' END" for role, bit in by_name
    )
    current = (
        f"SELECT account_id, lead_id, role FROM {member_t} "
        "WHERE ended_at IS NULL AND account_id = ANY(%(ids)s::bigint[])"
    )
    members = (
        f"({current}) m JOIN {lead_t} l ON l.id = m.lead_id"
        if accounts >= HASH_JOIN_MIN
        # each member's lead by its primary key (the LATERAL ... OFFSET 0 keeps the probe: the
        # planner hashed a scan of every lead for each batch, 1.7 s of a 2.1 s batch at 1M
        # leads), in lead id order: each lead page is read once, in order (0.47 s instead of
        # 0.65 s for the 77,000 members of 10,000 accounts)
        else f"({current} ORDER BY lead_id OFFSET 0) m JOIN LATERAL (SELECT l.engagement_score "
        f"FROM {lead_t} l WHERE l.id = m.lead_id OFFSET 0) l ON true"
    )
    sql = (
        f"WITH a AS (SELECT a.id, {cols} FROM {account_t} a WHERE a.id = ANY(%(ids)s::bigint[])), "
        "mem AS (SELECT m.account_id, l.engagement_score AS eng, m.role, "
        f"l.engagement_score >= {int(spec.engaged_min)} AS engaged "
        f"FROM {members}), "
        # the engaged roles as bits OR-ed: a hash aggregate (a DISTINCT array sorted every
        # member of a wide batch, spilling to disk)
        "agg AS (SELECT account_id, sum(eng) AS total, count(*) FILTER (WHERE engaged) AS n, "
        f"bit_or({role_bit}) FILTER (WHERE engaged) AS rb FROM mem GROUP BY account_id), "
        f"v AS (SELECT a.id, ({fit}) AS fit, {rules_json} AS rules, "
        f"least(coalesce(agg.total, 0), {int(spec.engagement_cap)})::int AS e1, "
        f"(least(coalesce(agg.n, 0), {int(spec.member_cap)}) * {int(spec.member_points)})::int "
        "AS e2, "
        f"(({role_count}) * {int(spec.role_points)})::int AS e3, "
        f"coalesce(agg.n, 0)::int AS n, to_jsonb(array_remove(ARRAY[{role_names}]::text[], NULL)) "
        "AS roles "
        "FROM a LEFT JOIN agg ON agg.account_id = a.id) "
        f"SELECT v.id AS account_id, v.fit, v.e1 + v.e2 + v.e3 AS eng, {grade} AS grade, "
        "jsonb_build_object('rules', v.rules, 'engaged_members', v.n, "
        "'engaged_roles', v.roles, 'parts', jsonb_build_object('member_engagement', v.e1, "
        "'engaged_members', v.e2, 'roles', v.e3)) AS bd FROM v"
    )
    return sql, p.values


def _write_sql(
    *, model: ScoringModel, spec: ar.AccountSpec, ids: Sequence[int], now: datetime
) -> int:
    sql, params = _compile(spec, accounts=len(ids))
    score_t = AccountScore._meta.db_table
    statement = (
        f"WITH ev AS MATERIALIZED ({sql}) "
        f"INSERT INTO {score_t} AS s (account_id, model_id, score, fit_score, engagement_score, "
        "grade, breakdown, scored_at, mqa_armed) "
        "SELECT ev.account_id, %(model_id)s, ev.fit + ev.eng, ev.fit, ev.eng, ev.grade, ev.bd, "
        "%(now)s, true FROM ev "
        "ON CONFLICT (account_id) DO UPDATE SET model_id = EXCLUDED.model_id, "
        "score = EXCLUDED.score, fit_score = EXCLUDED.fit_score, "
        "engagement_score = EXCLUDED.engagement_score, grade = EXCLUDED.grade, "
        "breakdown = EXCLUDED.breakdown, scored_at = EXCLUDED.scored_at, "
        "mqa_armed = s.mqa_armed OR EXCLUDED.score < %(mqa_t)s "
        # a later evaluation stays; an unchanged one writes nothing
        "WHERE s.scored_at <= EXCLUDED.scored_at AND (s.model_id, s.score, s.fit_score, "
        "s.engagement_score, s.grade, s.breakdown) IS DISTINCT FROM (EXCLUDED.model_id, "
        "EXCLUDED.score, EXCLUDED.fit_score, EXCLUDED.engagement_score, EXCLUDED.grade, "
        "EXCLUDED.breakdown)"
    )
    with connection.cursor() as cursor:
        engine._session_tuning(cursor)
        cursor.execute(
            statement,
            {
                **params,
                "ids": sorted(ids),
                "now": now,
                "model_id": model.pk,
                "mqa_t": model.account_mqa_threshold,
            },
        )
        return max(int(cursor.rowcount), 0)


def evaluate_python(*, spec: ar.AccountSpec, ids: Sequence[int]) -> dict[int, ar.AccountEvaluation]:
    """The pure evaluation of the accounts ``ids`` (those that exist), read in two queries."""
    accounts = {
        row["id"]: row
        for row in Account.objects.filter(pk__in=list(ids)).values("id", *ar.ACCOUNT_FIELDS)
    }
    members: dict[int, list[ar.Member]] = {i: [] for i in accounts}
    current = Membership.objects.filter(account_id__in=list(accounts), ended_at__isnull=True)
    for account_id, lead_id, eng, role in current.values_list(
        "account_id", "lead_id", "lead__engagement_score", "role"
    ):
        members[account_id].append(ar.Member(lead_id, eng, role))
    return {
        account_id: ar.evaluate_account(
            spec, account=accounts[account_id], members=members[account_id]
        )
        for account_id in sorted(accounts)
    }


def evaluate_sql(*, spec: ar.AccountSpec, ids: Sequence[int]) -> dict[int, ar.AccountEvaluation]:
    """The bulk statement's evaluation, read only (PostgreSQL)."""
    sql, params = _compile(spec, accounts=len(ids))
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "ids": sorted(ids)})
        rows = cursor.fetchall()
    return {
        account_id: ar.AccountEvaluation(
            fit, eng, grade, json.loads(bd) if isinstance(bd, str) else bd
        )
        for account_id, fit, eng, grade, bd in rows
    }


def write_python(
    *, model: ScoringModel, spec: ar.AccountSpec, ids: Sequence[int], now: datetime
) -> int:
    """Evaluate with the pure function and store what changed; returns the rows written."""
    evaluations = evaluate_python(spec=spec, ids=ids)
    existing = {
        s.account_id: s for s in AccountScore.objects.filter(account_id__in=list(evaluations))
    }
    written = 0
    for account_id, ev in evaluations.items():
        values = {
            "model_id": model.pk,
            "score": ev.score,
            "fit_score": ev.fit,
            "engagement_score": ev.engagement,
            "grade": ev.grade,
            "breakdown": ev.breakdown,
        }
        current = existing.get(account_id)
        if current is None:
            AccountScore.objects.create(account_id=account_id, scored_at=now, **values)
        elif current.scored_at <= now and values != {k: getattr(current, k) for k in values}:
            armed = current.mqa_armed or ev.score < model.account_mqa_threshold
            AccountScore.objects.filter(pk=account_id).update(
                scored_at=now, mqa_armed=armed, **values
            )
        else:
            continue
        written += 1
    return written


def write_account_scores(
    *, model: ScoringModel, spec: ar.AccountSpec, ids: Sequence[int], now: datetime
) -> int:
    """Evaluate and store the scores of the accounts ``ids``; returns the rows written (new or
    changed). Call inside a transaction."""
    if not ids:
        return 0
    if connection.vendor == "postgresql":
        return _write_sql(model=model, spec=spec, ids=ids, now=now)
    return write_python(model=model, spec=spec, ids=ids, now=now)

"""Reads of the scoring app. ``score_breakdown`` is a contract handover (and the UI) rely on."""

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from companies import selectors as company_selectors
from companies.models import Account
from scoring import account_rules
from scoring.models import AccountScore, LeadScore, ScoringModel, ScoringRule, ScoringRun


def rules_earned(*, lead_ids: Collection[int]) -> dict[int, list[tuple[uuid.UUID, int]]]:
    """Per lead, the rules its stored score took points from, as (rule key, points): what it
    carried when last scored. Two queries for any number of leads."""
    points: dict[int, dict[int, int]] = {}
    for lead_id, stored in LeadScore.objects.filter(pk__in=lead_ids).values_list("pk", "breakdown"):
        points[lead_id] = {int(e[0]): int(e[2]) for e in stored or () if e[2]}
    rule_ids = {rule_id for earned in points.values() for rule_id in earned}
    keys = dict(ScoringRule.objects.filter(pk__in=rule_ids).values_list("pk", "key"))
    return {
        lead_id: [(keys[rule_id], n) for rule_id, n in earned.items() if rule_id in keys]
        for lead_id, earned in points.items()
    }


def score_breakdown(*, lead_id: int) -> dict[str, Any] | None:
    """Why a lead has its score: per rule, from the very evaluation that stored the score.

    JSON-serialisable; None when the lead has never been scored. The rules listed are those that
    counted something; ``points`` of all rules sum to ``score`` (fit rules to ``fit_score``,
    engagement rules to ``engagement_score``). ``decay`` is the points lost to time decay
    (``points - undecayed_points``, 0 without decay).
    """
    row = LeadScore.objects.select_related("model").filter(lead_id=lead_id).first()
    if row is None:
        return None
    rule_ids = [int(entry[0]) for entry in row.breakdown]
    rules = ScoringRule.objects.in_bulk(rule_ids)
    items = []
    for rule_id, count, points, undecayed in row.breakdown:
        rule = rules.get(int(rule_id))
        items.append(
            {
                "rule_id": int(rule_id),
                "name": rule.name if rule else f"rule {rule_id}",
                "kind": rule.kind if rule else "",
                "dimension": "fit" if rule is not None and rule.kind == "fit" else "engagement",
                "points": int(points),
                "count": int(count),
                "undecayed_points": int(undecayed),
                "decay": int(points) - int(undecayed),
                "per_event_points": rule.points if rule else None,
            }
        )
    return {
        "lead_id": lead_id,
        "model_id": row.model_id,
        "model_version": row.model.version,
        "model_name": row.model.name,
        "score": row.score,
        "fit_score": row.fit_score,
        "engagement_score": row.engagement_score,
        "grade": row.grade,
        "scored_at": row.scored_at.isoformat(),
        "mql_armed": row.mql_armed,
        "rules": items,
    }


def account_breakdown(*, account_id: int) -> dict[str, Any] | None:
    """Why an account has its score under the published model, evaluated now by the pure
    ``scoring.account_rules.evaluate_account`` (the function the bulk statement is tested
    against): totals, the parts of engagement, the matching fit rules (named) and the members.
    None without a published model or when the account does not exist."""
    from scoring import account_engine, engine

    model = published_model()
    if model is None:
        return None
    ev = account_engine.evaluate_python(spec=engine.account_spec(model), ids=[account_id]).get(
        account_id
    )
    if ev is None:
        return None
    names = dict(ScoringRule.objects.filter(model=model).values_list("pk", "name"))
    return {
        "account_id": account_id,
        "model_id": model.pk,
        "model_version": model.version,
        "score": ev.score,
        "fit_score": ev.fit,
        "engagement_score": ev.engagement,
        "grade": ev.grade,
        **ev.breakdown,
        "rules": [
            {"rule_id": rule_id, "name": names.get(rule_id, ""), "points": points}
            for rule_id, points in ev.breakdown["rules"]
        ],
        **_top_members(Account(pk=account_id), account_rules.MAX_MEMBERS_SHOWN),
    }


def _top_members(account: Account, limit: int) -> dict[str, Any]:
    roster = company_selectors.account_roster(account)
    rows, total = company_selectors.top_engaged_members(roster, limit=limit)
    return {
        "members": [{"lead_id": lead_id, "engagement": engagement} for lead_id, engagement in rows],
        "members_with_engagement": total,
    }


def account_score_stored(
    *, account: Account, members: int = account_rules.MAX_MEMBERS_SHOWN
) -> dict[str, Any] | None:
    """An account's STORED score (``AccountScore``, written by the sweep) with its breakdown and
    the fit rules named: what the account page and ``/api/v1/accounts/{id}/score/`` show. None
    when the account has not been scored.

    ``members``: ``[{"lead_id", "engagement"}]``, the current members with engagement > 0 as
    they are now, most engaged first, at most ``members`` of them; ``members_with_engagement``:
    how many such members there are."""
    account_id = account.pk
    row = AccountScore.objects.select_related("model").filter(account_id=account_id).first()
    if row is None:
        return None
    b = row.breakdown or {}
    rule_pairs = [(int(rule_id), int(points)) for rule_id, points in b.get("rules", [])]
    names = dict(
        ScoringRule.objects.filter(pk__in=[p[0] for p in rule_pairs]).values_list("pk", "name")
    )
    parts = b.get("parts", {})
    return {
        "account_id": account_id,
        "model_id": row.model_id,
        "model_version": row.model.version,
        "model_name": row.model.name,
        "score": row.score,
        "fit_score": row.fit_score,
        "engagement_score": row.engagement_score,
        "grade": row.grade,
        "scored_at": row.scored_at,
        "rules": [
            {"rule_id": rule_id, "name": names.get(rule_id, f"rule {rule_id}"), "points": points}
            for rule_id, points in rule_pairs
        ],
        "parts": {
            "member_engagement": int(parts.get("member_engagement", 0)),
            "engaged_members": int(parts.get("engaged_members", 0)),
            "roles": int(parts.get("roles", 0)),
        },
        "engaged_members": int(b.get("engaged_members", 0)),
        "engaged_roles": list(b.get("engaged_roles", [])),
        **_top_members(account, members),
    }


def account_scores(*, account_ids: Sequence[int]) -> dict[int, tuple[int, str]]:
    """Stored (score, grade) of the scored ones among ``account_ids``: one query."""
    rows = AccountScore.objects.filter(account_id__in=account_ids).values_list(
        "account_id", "score", "grade"
    )
    return {account_id: (score, grade) for account_id, score, grade in rows}


def accounts_of_grades(qs: QuerySet[Account], grades: Collection[str]) -> QuerySet[Account]:
    """The accounts of ``qs`` whose stored score has one of ``grades`` (a subquery)."""
    graded = AccountScore.objects.filter(account_id=OuterRef("pk"), grade__in=list(grades))
    return qs.filter(Exists(graded))


def model_list() -> QuerySet[ScoringModel]:
    return ScoringModel.objects.prefetch_related("rules")


def published_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(status=ScoringModel.Status.PUBLISHED).first()


def run_list() -> QuerySet[ScoringRun]:
    return ScoringRun.objects.select_related("model")

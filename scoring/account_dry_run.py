# ruff: noqa: S608
# The statements interpolate only our own table names; every value is a query parameter.
"""A dry run's account figures: what the draft would do to account scores and MQAs.

An account's engagement sums its current members' lead engagement, and a draft may change the
lead engagement rules, so the accounts are scored with the members' engagement *as the dry run
evaluates it*. Each lead batch the dry run evaluates adds its members' totals
(``scoring.account_rules.member_totals``: Σ engagement, engaged members, engaged roles) to one
scratch row per account (``DryRunAccount``), under the draft ("after") and under the published
model ("before"); when the last batch is done, the accounts are scored from those totals with
the one formula (``account_rules.evaluate_totals``), a chunk of accounts at a time, and only the
counts go into the run's ``result``. Memory holds one batch or one chunk; the result's size does
not grow with the number of accounts.

Layer: ``scoring → companies → leads``; called by ``scoring.services`` (the dry run's batches).
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from django.db import connection

from companies.models import Account, Membership
from scoring import account_rules as ar
from scoring import engine
from scoring import rules as r
from scoring.models import AccountScore, DryRunAccount, ScoringModel, ScoringRun

CHUNK: Final = 5000  # accounts scored per read at the end
NOT_SCORED: Final = "-"  # the grade "before" of an account never scored (nothing published)


def _bits(roles: Iterable[str]) -> int:
    bits = 0
    for role in roles:
        bits |= ar.ROLE_BITS[role]
    return bits


def _roles(bits: int) -> frozenset[str]:
    return frozenset(role for role, bit in ar.ROLE_BITS.items() if bits & bit)


def accounts_reset(*, run_id: int) -> None:
    """Forget the totals of an earlier attempt of the run (a dry run starts over)."""
    DryRunAccount.objects.filter(run_id=run_id).delete()


def accounts_forget_ended(*, run_id: int) -> None:
    """Delete a failed or cancelled dry run's totals (a rerun starts over; a run queued or
    running again keeps the ones its new attempt writes)."""
    DryRunAccount.objects.filter(
        run_id=run_id, run__status__in=[ScoringRun.Status.FAILED, ScoringRun.Status.CANCELLED]
    ).delete()


def accounts_add_batch(
    *,
    run_id: int,
    ids: engine.Batch,
    after: Sequence[engine.Row],
    before: Sequence[engine.Row] | None,
    after_spec: ar.AccountSpec,
    before_spec: ar.AccountSpec | None,
) -> None:
    """Add the members among the leads ``ids`` to their accounts' totals: ``after`` holds the
    leads' draft evaluation, ``before`` the published model's (None: nothing published, the
    accounts' stored scores are "before")."""
    after_eng = {row.lead_id: row.engagement for row in after}
    before_eng = {row.lead_id: row.engagement for row in before or ()}
    members: dict[int, tuple[list[ar.Member], list[ar.Member]]] = {}
    current = Membership.objects.filter(
        engine.batch_q(ids, "lead_id"), ended_at__isnull=True, account__isnull=False
    ).values_list("lead_id", "account_id", "role")
    for lead_id, account_id, role in current:
        if lead_id not in after_eng:  # created after the batch was evaluated
            continue
        new, old = members.setdefault(account_id, ([], []))
        new.append(ar.Member(lead_id, after_eng[lead_id], role))
        if lead_id in before_eng:
            old.append(ar.Member(lead_id, before_eng[lead_id], role))
    if not members:
        return
    rows = []
    for account_id in sorted(members):
        new, old = members[account_id]
        a = ar.member_totals(after_spec, new)
        b = ar.member_totals(before_spec, old) if before_spec else ar.MemberTotals()
        rows.append(
            (account_id, b.engagement, b.engaged, _bits(b.roles))
            + (a.engagement, a.engaged, _bits(a.roles))
        )
    _upsert(run_id, rows)


_COLUMNS: Final = (
    "before_engagement",
    "before_engaged",
    "before_roles",
    "after_engagement",
    "after_engaged",
    "after_roles",
)


def _upsert(run_id: int, rows: Sequence[tuple[int, ...]]) -> None:
    """Add ``rows`` (account_id, then the ``_COLUMNS``) to the run's scratch rows: sums add,
    role bits OR. One statement on PostgreSQL (arrays); SQLite runs it row by row."""
    table = DryRunAccount._meta.db_table
    update = ", ".join(
        f"{c} = {table}.{c} | excluded.{c}"
        if c.endswith("_roles")
        else f"{c} = {table}.{c} + excluded.{c}"
        for c in _COLUMNS
    )
    head = f"INSERT INTO {table} (run_id, account_id, {', '.join(_COLUMNS)}) "
    tail = f" ON CONFLICT (run_id, account_id) DO UPDATE SET {update}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            types = ("bigint", "bigint", "int", "int", "bigint", "int", "int")
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            cursor.execute(
                f"{head}SELECT %s, * FROM unnest({arrays}){tail}",
                [run_id, *(list(column) for column in zip(*rows, strict=True))],
            )
        else:
            cursor.executemany(
                f"{head}VALUES ({', '.join(['%s'] * 8)}){tail}",
                [(run_id, *row) for row in rows],
            )


def accounts_summary(
    *,
    run: ScoringRun,
    model: ScoringModel,
    spec: ar.AccountSpec,
    baseline: ScoringModel | None,
) -> dict[str, Any]:
    """Score every account from the run's totals, under ``model`` (after, whose account spec
    is ``spec``: the one its batches summed with) and ``baseline``
    (before; None: the stored scores), count what changes and delete the scratch rows.

    - ``changed``: accounts whose score differs;
    - ``enter_mqa``: at or above the draft's MQA threshold and armed — as the account sweep
      re-arms: armed if its stored score is armed or the new score is below the threshold; an
      account never scored is armed;
    - ``mqa_below_threshold``: at or above the published MQA threshold before, below the draft's
      after;
    - ``grades_before``/``grades_after``: accounts per grade; ``grade_moves[before][after]``:
      accounts whose grade changes;
    - ``sum_before``/``sum_after`` and the 10-point histograms ``before``/``after``.
    """
    after_spec = spec
    before_spec = engine.account_spec(baseline) if baseline is not None else None
    t = model.account_mqa_threshold
    t_before = baseline.account_mqa_threshold if baseline is not None else t
    n = changed = enter_mqa = fall_below = sum_before = sum_after = 0
    hist_before: Counter[str] = Counter()
    hist_after: Counter[str] = Counter()
    grades_before: Counter[str] = Counter()
    grades_after: Counter[str] = Counter()
    moves: dict[str, Counter[str]] = {}
    last = 0
    while chunk := list(
        Account.objects.filter(pk__gt=last).order_by("pk").values("id", *ar.ACCOUNT_FIELDS)[:CHUNK]
    ):
        lo, last = chunk[0]["id"], chunk[-1]["id"]
        totals = {
            row[0]: row[1:]
            for row in DryRunAccount.objects.filter(
                run_id=run.pk, account_id__gte=lo, account_id__lte=last
            ).values_list("account_id", *_COLUMNS)
        }
        stored = {
            row[0]: row[1:]
            for row in AccountScore.objects.filter(
                account_id__gte=lo, account_id__lte=last
            ).values_list("account_id", "score", "grade", "mqa_armed")
        }
        scores_before, scores_after = [], []
        for account in chunk:
            be, bn, br, ae, an, ar_ = totals.get(account["id"], (0, 0, 0, 0, 0, 0))
            new = ar.evaluate_totals(
                after_spec, account=account, totals=ar.MemberTotals(ae, an, _roles(ar_))
            )
            old_stored = stored.get(account["id"])
            if before_spec is not None:
                old = ar.evaluate_totals(
                    before_spec, account=account, totals=ar.MemberTotals(be, bn, _roles(br))
                )
                score_before, grade_before = old.score, old.grade
            elif old_stored is not None:
                score_before, grade_before = old_stored[0], old_stored[1]
            else:
                score_before, grade_before = 0, NOT_SCORED
            armed = old_stored is None or old_stored[2] or new.score < t
            n += 1
            changed += new.score != score_before
            enter_mqa += armed and new.score >= t
            fall_below += score_before >= t_before and new.score < t
            scores_before.append(score_before)
            scores_after.append(new.score)
            grades_before[grade_before] += 1
            grades_after[new.grade] += 1
            if new.grade != grade_before:
                moves.setdefault(grade_before, Counter())[new.grade] += 1
        hist_before.update(r.score_histogram(scores_before))
        hist_after.update(r.score_histogram(scores_after))
        sum_before, sum_after = sum_before + sum(scores_before), sum_after + sum(scores_after)
    accounts_reset(run_id=run.pk)
    return {
        "accounts": n,
        "changed": changed,
        "enter_mqa": enter_mqa,
        "mqa_below_threshold": fall_below,
        "sum_before": sum_before,
        "sum_after": sum_after,
        "before": dict(hist_before),
        "after": dict(hist_after),
        "grades_before": dict(grades_before),
        "grades_after": dict(grades_after),
        "grade_moves": {g: dict(to) for g, to in sorted(moves.items())},
    }


def grade_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The summary's grades, A to D (then "not scored"), for the page's table."""
    before, after = summary.get("grades_before", {}), summary.get("grades_after", {})
    moves = summary.get("grade_moves", {})
    return [
        {
            "grade": g,
            "before": before.get(g, 0),
            "after": after.get(g, 0),
            "moves": sorted(moves.get(g, {}).items()),
        }
        for g in [*r.GRADES, NOT_SCORED]
        if before.get(g) or after.get(g)
    ]

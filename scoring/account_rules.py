"""Account score maths, pure: the one definition the bulk SQL (``scoring.account_engine``), the
single-account path and the breakdown agree with (tests/scoring/test_account_scores.py).

The formula (the model's ``account_*`` settings; docs/accounts.md has a worked example):

- fit = Σ points of the account fit rules whose account field matches (``in``, ``not_in``,
  ``is_empty`` on ``tier``, ``industry``, ``size_band``, ``country``; case-insensitive, as the
  lead fit rules);
- a member is a lead whose *current* membership is the account; it is *engaged* when its lead
  engagement score is at least ``engaged_min``;
- E1 = min(Σ members' engagement scores, ``engagement_cap``);
- E2 = min(number of engaged members, ``member_cap``) × ``member_points``;
- E3 = number of distinct buying roles other than "unknown" among engaged members ×
  ``role_points``;
- engagement = E1 + E2 + E3; score = fit + engagement; grade from fit with the model's grade
  bands (as a lead's grade).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from companies.models import BuyingRole
from leadflow.validators import nul_path
from scoring.rules import KIND_ACCOUNT_FIT as KIND_ACCOUNT_FIT
from scoring.rules import ModelSpec, RuleSpec, fit_matches, grade_for

ACCOUNT_FIELDS: Final[tuple[str, ...]] = ("country", "industry", "size_band", "tier")
ACCOUNT_OPS: Final[frozenset[str]] = frozenset({"in", "not_in", "is_empty"})
UNKNOWN_ROLE: Final = "unknown"
# a buying role's bit where members' roles are OR-ed together (the bulk statement, a dry run's
# totals); "unknown" never counts
ROLE_BITS: Final[dict[str, int]] = {
    role: 1 << i for i, role in enumerate(BuyingRole.values) if role != UNKNOWN_ROLE
}
MAX_MEMBERS_SHOWN: Final = 100  # the breakdown's "members", read when shown (not stored)


@dataclass(frozen=True)
class AccountSpec:
    rules: tuple[RuleSpec, ...]  # account fit rules only
    grade_a_min: int = 30
    grade_b_min: int = 15
    grade_c_min: int = 5
    engaged_min: int = 10
    engagement_cap: int = 60
    member_points: int = 5
    member_cap: int = 5
    role_points: int = 10

    @property
    def grades(self) -> ModelSpec:
        return ModelSpec((), self.grade_a_min, self.grade_b_min, self.grade_c_min)


@dataclass(frozen=True)
class Member:
    lead_id: int
    engagement: int  # the lead's stored engagement score
    role: str


@dataclass(frozen=True)
class AccountEvaluation:
    fit: int
    engagement: int
    grade: str
    breakdown: dict[str, Any]

    @property
    def score(self) -> int:
        return self.fit + self.engagement


@dataclass(frozen=True)
class MemberTotals:
    """What the formula reads of an account's members. Each part adds up (sums, and a union of roles), so members counted in parts — a dry run's lead
    batches, ``scoring.account_dry_run`` — make the whole."""

    engagement: int = 0  # Σ members' engagement scores
    engaged: int = 0  # members whose engagement is at least ``engaged_min``
    roles: frozenset[str] = frozenset()  # buying roles (not "unknown") of engaged members


def member_totals(spec: AccountSpec, members: Iterable[Member]) -> MemberTotals:
    """Sum ``members`` (some or all of one account's) for the formula."""
    members = list(members)
    engaged = [m for m in members if m.engagement >= spec.engaged_min]
    return MemberTotals(
        sum(m.engagement for m in members),
        len(engaged),
        frozenset(m.role for m in engaged if m.role != UNKNOWN_ROLE),
    )


def evaluate_totals(
    spec: AccountSpec, *, account: Mapping[str, Any], totals: MemberTotals
) -> AccountEvaluation:
    """Score one account from its members' totals. The breakdown holds what the score is made
    of; the most engaged members are not in it: they are read when the breakdown is shown
    (``companies.selectors.top_engaged_members``), as they are then."""
    rules = [
        [x.rule_id, x.points]
        for x in sorted(spec.rules, key=lambda x: x.rule_id)
        if fit_matches(x, account)
    ]
    fit = sum(points for _id, points in rules)
    e1 = min(totals.engagement, spec.engagement_cap)
    e2 = min(totals.engaged, spec.member_cap) * spec.member_points
    e3 = len(totals.roles) * spec.role_points
    breakdown = {
        "rules": rules,
        "engaged_members": totals.engaged,
        "engaged_roles": sorted(totals.roles),
        "parts": {"member_engagement": e1, "engaged_members": e2, "roles": e3},
    }
    return AccountEvaluation(fit, e1 + e2 + e3, grade_for(fit, spec.grades), breakdown)


def evaluate_account(
    spec: AccountSpec, *, account: Mapping[str, Any], members: Iterable[Member]
) -> AccountEvaluation:
    """Score one account: ``account`` holds the ``ACCOUNT_FIELDS``; ``members`` its current
    members."""
    return evaluate_totals(spec, account=account, totals=member_totals(spec, members))


def validate_account_fit(*, field_name: str, op: str, value: Any) -> None:
    """Refuse an account fit rule that cannot be evaluated, naming the field."""
    if field_name not in ACCOUNT_FIELDS:
        raise ValidationError(
            {
                "field": _("Unknown account field %(field)s; use one of %(fields)s.")
                % {"field": repr(field_name), "fields": list(ACCOUNT_FIELDS)}
            }
        )
    if op not in ACCOUNT_OPS:
        raise ValidationError(
            {
                "op": _("account field %(field)s does not take %(op)s; use one of %(ops)s.")
                % {"field": repr(field_name), "op": repr(op), "ops": sorted(ACCOUNT_OPS)}
            }
        )
    if (where := nul_path(value, "value")) is not None:
        raise ValidationError(
            {
                # Translators: %(path)s locates the value, e.g. "value.0" (its first item)
                "value": _("%(path)s contains a NUL (\\u0000) character.") % {"path": where}
            }
        )
    if op == "is_empty":
        if not isinstance(value, bool):
            raise ValidationError({"value": _("%(op)s needs true or false.") % {"op": repr(op)}})
    elif not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError(
            {
                "value": _("%(op)s on account field %(field)s needs a non-empty list of strings.")
                % {"op": repr(op), "field": repr(field_name)}
            }
        )

"""Extension points of the account pages and API: apps above ``companies`` add to them without
``companies`` importing those apps (the layering runs ``handover → scoring → companies →
leads``). ``scoring`` registers all three in its ``AppConfig.ready``.

- The account page's side column: ``register_account_panel`` (scoring's "Account score").
- Scores of accounts in bulk: ``register_account_scores`` — the list page's Score and Grade
  columns and the API's read-only ``score`` / ``grade``. One query per call.
- The grade filter (``grade=A&grade=B``) of the list page and the API: a ``grade`` filter of
  ``ScoredAccountFilterSet`` (below) whose implementation is the callable registered with
  ``register_account_grade_filter``. (One named filter, not a general "register any filter":
  the filter's choices, label and API schema stay declared here, where the FilterSet is.)
- The MQA filter (``mqa=true``): accounts with an open account handover; ``handover``
  registers it with ``register_account_mqa_filter``.
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import django_filters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from companies.filtersets import AccountFilterSet
from companies.models import Account

GRADES: Final = ("A", "B", "C", "D")  # the scoring grades, from fit (scoring.rules.GRADES)


# A panel of the account page's side column: (request, account) -> the template to include and
# its context, or None to show nothing. Rendered in the order registered, with the account
# page's own context around it (csrf_token, perms, account).
@dataclass(frozen=True)
class AccountPanel:
    template: str
    context: Mapping[str, Any]


AccountPanelSource = Callable[[HttpRequest, Account], "AccountPanel | None"]
_account_panels: list[AccountPanelSource] = []


def register_account_panel(source: AccountPanelSource) -> None:
    if source not in _account_panels:
        _account_panels.append(source)


def account_panels(*, request: HttpRequest, account: Account) -> list[AccountPanel]:
    return [panel for source in _account_panels if (panel := source(request, account)) is not None]


# Account ids -> {account id: (score, grade)} for the scored ones (unscored: absent). One source;
# one query per call.
AccountScoresSource = Callable[[Sequence[int]], Mapping[int, tuple[int, str]]]
_account_scores: list[AccountScoresSource] = []


def register_account_scores(source: AccountScoresSource) -> None:
    _account_scores[:] = [source]


def account_scores(account_ids: Sequence[int]) -> dict[int, tuple[int, str]]:
    if not _account_scores or not account_ids:
        return {}
    return dict(_account_scores[0](list(account_ids)))


# (accounts, grades) -> the accounts whose stored grade is one of them.
GradeFilter = Callable[[QuerySet[Account], Collection[str]], QuerySet[Account]]
_grade_filters: list[GradeFilter] = []


def register_account_grade_filter(fn: GradeFilter) -> None:
    _grade_filters[:] = [fn]


def filter_by_grade(qs: QuerySet[Account], grades: Collection[str]) -> QuerySet[Account]:
    if not grades:
        return qs
    if not _grade_filters:  # pragma: no cover  (scoring is always installed)
        return qs.none()
    return _grade_filters[0](qs, grades)


# accounts -> those marketing-qualified now (an open account handover)
MqaFilter = Callable[[QuerySet[Account]], QuerySet[Account]]
_mqa_filters: list[MqaFilter] = []


def register_account_mqa_filter(fn: MqaFilter) -> None:
    _mqa_filters[:] = [fn]


class ScoredAccountFilterSet(AccountFilterSet):
    """``AccountFilterSet`` and the grade of the account's stored score (unscored accounts have
    none, so any grade filter leaves them out)."""

    grade = django_filters.MultipleChoiceFilter(
        choices=[(g, g) for g in GRADES],
        method="by_grade",
        label=gettext_lazy("Grade"),
        help_text=gettext_lazy("The account score's grade (from fit); repeat for several."),
    )

    mqa = django_filters.BooleanFilter(
        method="by_mqa",
        label=gettext_lazy("Marketing-qualified"),
        help_text=gettext_lazy(
            "true: only accounts with an open MQA handover; false: only those without."
        ),
    )

    def by_grade(self, qs: QuerySet[Account], name: str, value: Sequence[str]) -> QuerySet[Account]:
        return filter_by_grade(qs, value)

    def by_mqa(self, qs: QuerySet[Account], name: str, value: bool | None) -> QuerySet[Account]:
        if value is None or not _mqa_filters:
            return qs
        mqa = _mqa_filters[0](qs)
        return mqa if value else qs.exclude(pk__in=mqa.values("pk"))

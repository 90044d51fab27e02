"""What scoring adds to the account pages and API of ``companies`` (through
``companies.extensions``, registered in ``ScoringConfig.ready``): the account page's "Account
score" panel, the list's and API's score and grade, and the grade filter. All read the STORED
``AccountScore`` (an account may have thousands of members: nothing is evaluated here)."""

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from django.db.models import QuerySet
from django.http import HttpRequest

from companies.extensions import AccountPanel
from companies.models import Account, BuyingRole
from leadflow.api.auth import request_user
from leads.selectors import lead_visible_qs
from scoring import selectors

TEMPLATE: Final = "scoring/_account_panel.html"
TOP_MEMBERS: Final = 10


def account_score_panel(request: HttpRequest, account: Account) -> AccountPanel:
    """The account page's "Account score": totals, engagement parts, matching fit rules and the
    most engaged members (names only of leads the reader may see)."""
    stored = selectors.account_score_stored(account=account, members=TOP_MEMBERS)
    if stored is None:
        return AccountPanel(template=TEMPLATE, context={"score": None})
    top = stored["members"]
    visible = {
        lead.pk: lead
        for lead in lead_visible_qs(user=request_user(request)).filter(
            pk__in=[m["lead_id"] for m in top]
        )
    }
    labels = dict(BuyingRole.choices)
    context: dict[str, Any] = {
        "score": stored,
        "roles": [labels.get(role, role) for role in stored["engaged_roles"]],
        "top": [{**m, "lead": visible.get(m["lead_id"])} for m in top],
        "more": stored["members_with_engagement"] - len(top),
    }
    return AccountPanel(template=TEMPLATE, context=context)


def account_scores(account_ids: Sequence[int]) -> Mapping[int, tuple[int, str]]:
    return selectors.account_scores(account_ids=account_ids)


def filter_by_grade(qs: QuerySet[Account], grades: Collection[str]) -> QuerySet[Account]:
    return selectors.accounts_of_grades(qs, grades)

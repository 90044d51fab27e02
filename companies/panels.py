"""The lead page's "Account" panel (registered in ``CompaniesConfig.ready`` through
``leads.extensions.register_lead_panel``): the lead's account and why it is linked, name-match
suggestions, a person's explicit link or "no account", and the membership history."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from companies import selectors, services
from companies.filtersets import AccountFilterSet
from companies.forms import LeadAccountForm
from companies.models import Membership
from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError
from leadflow.models import User
from leads.extensions import CardAccount, LeadPanel
from leads.models import Lead
from leads.selectors import lead_editable, lead_visible_qs

TEMPLATE: Final = "companies/_lead_panel.html"
FOUND_LIMIT: Final = 8
LOG_LIMIT: Final = 20


def may_change(user: User) -> bool:
    return user.has_perm("leads.change_lead") and user.has_perm("companies.view_account")


def lead_or_404(user: User, lead_id: int) -> Lead:
    lead = lead_visible_qs(user=user).filter(pk=lead_id).first()
    if lead is None:
        raise Http404(_("There is no such lead you can see."))
    return lead


def panel_context(
    user: User, lead: Lead, *, q: str = "", error: str = "", notice: str = ""
) -> dict[str, Any]:
    current = selectors.lead_membership(lead_id=lead.pk)
    current_id = current.account_id if current is not None else None
    suggestions = [a for a in selectors.account_suggestions(lead=lead) if a.pk != current_id]
    q = q.strip()[:200]
    found: list[Any] = []
    if q:
        search = AccountFilterSet({"q": q}, queryset=selectors.account_list_qs(user=user))
        if search.is_valid():
            found = [a for a in search.qs[: FOUND_LIMIT + 1] if a.pk != current_id]
    log = list(selectors.lead_membership_log(lead_id=lead.pk)[: LOG_LIMIT + 1])
    return {
        "current": current,
        "suggestions": suggestions,
        "q": q,
        "found": found[:FOUND_LIMIT],
        "found_more": len(found) > FOUND_LIMIT,
        "log": log[:LOG_LIMIT],
        "log_more": len(log) > LOG_LIMIT,
        "can_change": may_change(user),
        "error": error,
        "notice": notice,
        "explicit": Membership.Source.EXPLICIT.value,
    }


def lead_account_panel(request: HttpRequest, lead: Lead) -> LeadPanel | None:
    user = request_user(request)
    if not user.has_perm("companies.view_account"):
        return None
    q = request.GET.get("account_q", "")
    return LeadPanel(template=TEMPLATE, context=panel_context(user, lead, q=q))


@dataclass(frozen=True)
class ChangeResult:
    message: str = ""
    error: str = ""


def change(request: HttpRequest, user: User, lead: Lead) -> ChangeResult:
    """The panel's POST: ``action=link`` with ``account``, or ``action=none``."""
    if lead_editable(user=user, lead_id=lead.pk) is None:
        raise PermissionDenied(_("You may not change this lead."))
    form = LeadAccountForm(request.POST)
    if not form.is_valid():
        return ChangeResult(
            error=" ".join(str(e) for errors in form.errors.values() for e in errors)
        )
    account_id = form.cleaned_data["account"] if form.cleaned_data["action"] == "link" else None
    account = None
    if account_id is not None:
        account = selectors.account_get_visible(user=user, account_id=account_id)
        if account is None:
            return ChangeResult(error=_("No account has the id %(id)s.") % {"id": account_id})
    before = selectors.lead_membership(lead_id=lead.pk)
    same = (
        before is not None
        and before.account_id == account_id
        and before.source == Membership.Source.EXPLICIT
    )
    try:
        services.member_link(
            lead_id=lead.pk,
            account_id=account_id,
            source=Membership.Source.EXPLICIT,
            actor=user,
            reason=_("Set on the lead page"),
        )
    except (ValidationError, DomainError) as exc:
        return ChangeResult(error=" ".join(getattr(exc, "messages", [str(exc)])))
    if account is not None:
        text = _("%(lead)s now belongs to %(account)s.")
        message = text % {"lead": lead.display_name, "account": account.name}
    else:
        message = _(
            "%(lead)s now belongs to no account; e-mail domains and group calls will not link it."
        ) % {"lead": lead.display_name}
    if same:
        message = _("Already so: nothing changed.")
    return ChangeResult(message=message)


def card_accounts(lead_ids: Sequence[int]) -> dict[int, CardAccount]:
    """Board cards' company line: each lead's current account, one query for the page."""
    return {
        lead_id: CardAccount(name=account.name, url=reverse("companies:detail", args=[account.pk]))
        for lead_id, account in selectors.lead_accounts(list(lead_ids)).items()
    }

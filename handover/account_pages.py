"""What handover adds to the account page (through ``companies.extensions``, registered in
``HandoverConfig.ready``): the "Marketing-qualified" panel — the open account handover with its
deadline and the accept / reject forms for whoever may decide it, and the account's MQA history —
and the two POST views behind those forms."""

from typing import Final

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from companies.extensions import AccountPanel
from companies.models import Account
from companies.selectors import account_get_visible
from handover import account_handovers
from handover.forms import RejectForm
from handover.models import AccountHandover
from handover.permissions import Perm, may_decide
from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError
from leadflow.i18n import shown

TEMPLATE: Final = "handover/_account_panel.html"
HISTORY: Final = 5


def account_handover_panel(request: HttpRequest, account: Account) -> AccountPanel:
    user = request_user(request)
    rows = list(
        AccountHandover.objects.filter(account=account)
        .select_related("owner", "decided_by", "rejection_reason")
        .order_by("-opened_at", "-pk")[: HISTORY + 1]
    )
    current = rows[0] if rows and rows[0].status == AccountHandover.Status.OPEN else None
    history = [h for h in rows if h is not current][:HISTORY]
    now = timezone.now()
    return AccountPanel(
        template=TEMPLATE,
        context={
            "current": current,
            "overdue": bool(current and current.due_at and current.due_at <= now),
            "may_decide": bool(current and may_decide(user, current)),
            "reject_form": RejectForm(),
            "history": history,
        },
    )


def accounts_mqa(qs: QuerySet[Account]) -> QuerySet[Account]:
    """The accounts with an open account handover (marketing-qualified, not decided yet)."""
    return qs.filter(
        pk__in=AccountHandover.objects.filter(status=AccountHandover.Status.OPEN).values(
            "account_id"
        )
    )


def _visible(request: HttpRequest, handover_id: int) -> AccountHandover:
    handover = AccountHandover.objects.filter(pk=handover_id).first()
    if (
        handover is None
        or account_get_visible(user=request_user(request), account_id=handover.account_id) is None
    ):
        raise Http404(_("There is no such account handover."))
    return handover


def _back(handover: AccountHandover) -> HttpResponse:
    return redirect("companies:detail", handover.account_id)


@login_required
@permission_required(Perm.DECIDE_SAL, raise_exception=True)
@require_POST
def accept(request: HttpRequest, handover_id: int) -> HttpResponse:
    handover = _visible(request, handover_id)
    try:
        account_handovers.handover_accept(handover_id=handover.pk, actor=request_user(request))
    except DomainError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Accepted: the account is yours to work."))
    return _back(handover)


@login_required
@permission_required(Perm.DECIDE_SAL, raise_exception=True)
@require_POST
def reject(request: HttpRequest, handover_id: int) -> HttpResponse:
    handover = _visible(request, handover_id)
    form = RejectForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            text = " ".join(str(e) for e in errors)
            messages.error(request, f"{label}: {text}" if label else text)
        return _back(handover)
    try:
        account_handovers.handover_reject(
            handover_id=handover.pk,
            actor=request_user(request),
            reason_code=form.cleaned_data["reason"].code,
            comment=form.cleaned_data["comment"],
        )
    except DomainError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Rejected: %(reason)s.") % {"reason": shown(form.cleaned_data["reason"].label)},
        )
    return _back(handover)

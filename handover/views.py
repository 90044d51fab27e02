"""Browser pages of the handover app: the SAL inbox (accept, reject, qualify), notifications,
the lead page's handover panel and bulk assignment from the lead list."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from handover import permissions, selectors, services
from handover.forms import RejectForm, checklist_answers
from handover.inbox import RowTexts, SlaClocks
from handover.models import Handover, QualificationChecklist
from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError
from leadflow.i18n import shown
from leadflow.models import User
from leads.lifecycle import Stage
from leads.models import Lead
from leads.permissions import manager_scope
from leads.selectors import lead_get_visible
from leads.templatetags.leads_ui import url_pattern


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _inbox_filters(params: QueryDict) -> dict[str, str]:
    """The inbox's filters (a rep's id or "none"; a lead id), digits only: kept in links."""
    owner = params.get("owner", "")
    lead = params.get("lead", "")
    return {
        key: value
        for key, value in (
            ("owner", owner if owner.isdigit() or owner == selectors.UNASSIGNED else ""),
            ("lead", lead if lead.isdigit() and len(lead) < 19 else ""),
        )
        if value
    }


def _inbox_url(filters: dict[str, str]) -> str:
    return reverse("handover:inbox") + (f"?{urlencode(filters)}" if filters else "")


# The inbox renders up to 300 rows: each row's links, countdown and labels are made here as
# strings, once, because per-row {% url %}, |timeuntil, |date and number localizing were
# most of the page's time (profiled: ≈ 60% of a rep's 250-row inbox); its markup is made in
# handover/inbox.py, as the template engine was most of the rest.


def _handover_row(
    h: selectors.InboxRow,
    user: User,
    owners: dict[int, str],
    urls: dict[str, str],
    sla: SlaClocks,
    texts: RowTexts,
) -> dict[str, Any]:
    if h.owner_id is not None:
        owner = texts.you if h.owner_id == user.pk else owners[h.owner_id]
    else:
        owner = texts.team_queue if h.team_id else texts.unassigned_queue
    return {
        "pk": str(h.pk),
        "name": h.display_name,
        "company": h.company,
        "job_title": h.job_title,
        "score": str(h.score),
        "grade": h.grade,
        "grade_class": (h.grade or "none").lower(),
        "source": h.source,
        "owner_id": "" if h.owner_id is None else str(h.owner_id),
        "owner": owner,
        "sla": sla(h.sla_due),
        "lead_url": urls["leads:detail"].format(h.lead_id),
        "accept_url": urls["handover:accept"].format(h.pk),
        "reject_url": urls["handover:reject"].format(h.pk),
        "texts": texts,
    }


def _sal_row(lead: Lead, urls: dict[str, str], sla: SlaClocks, texts: RowTexts) -> dict[str, Any]:
    return {
        "name": lead.display_name,
        "company": lead.company,
        "score": str(lead.score),
        "grade": lead.grade,
        "sla": sla(getattr(lead, "sla_due", None)),
        "lead_url": urls["leads:detail"].format(lead.pk),
        "qualify_url": urls["handover:qualify"].format(lead.pk),
        "texts": texts,
    }


def _inbox_context(user: User, filters: dict[str, str], **extra: Any) -> dict[str, Any]:
    scope = manager_scope(user)  # once a page: three queries
    owners = selectors.inbox_owner_choices(user=user, scope=scope)
    refused_owner = filters.get("owner", "") not in {"", *(value for value, _label in owners)}
    if refused_owner:  # someone outside the teams this user runs: say so, show them all
        filters = {k: v for k, v in filters.items() if k != "owner"}
    lead_id = int(filters["lead"]) if "lead" in filters else None
    rows = selectors.inbox_rows(
        user=user, owner=filters.get("owner", ""), lead_id=lead_id, scope=scope
    )
    shown = rows[: selectors.INBOX_LIMIT]
    names = selectors.inbox_owner_names(rows=shown, user=user)
    urls = {
        name: url_pattern(name)
        for name in ("leads:detail", "handover:accept", "handover:reject", "handover:qualify")
    }
    sla = SlaClocks(timezone.now())
    texts = RowTexts.current()
    return {
        "rows": [_handover_row(h, user, names, urls, sla, texts) for h in shown],
        "more": len(rows) > selectors.INBOX_LIMIT,
        "limit": selectors.INBOX_LIMIT,
        "sals": [_sal_row(lead, urls, sla, texts) for lead in selectors.sals_to_qualify(user=user)],
        "accounts": selectors.account_inbox(user=user, scope=scope),
        "now": timezone.now(),
        "reject_form": RejectForm(),
        "reasons": selectors.rejection_reasons(),
        "owners": owners,
        "owners_all": selectors.inbox_all_label(scope=scope),
        "refused_owner": refused_owner and bool(owners),
        "filters": filters,
        "filter_query": urlencode(filters),
        "filtered_lead": lead_get_visible(user=user, lead_id=lead_id) if lead_id else None,
        **extra,
    }


@login_required
@permission_required("handover.decide_sal", raise_exception=True)
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    filters = _inbox_filters(request.GET)
    return render(request, "handover/inbox.html", _inbox_context(request_user(request), filters))


def _visible_handover(user: User, handover_id: int) -> Handover:
    handover = selectors.handover_visible_qs(user=user).filter(pk=handover_id).first()
    if handover is None:
        raise Http404(_("There is no such handover you can see."))
    return handover


@login_required
@permission_required("handover.decide_sal", raise_exception=True)
@require_POST
def accept(request: HttpRequest, handover_id: int) -> HttpResponse:
    user = request_user(request)
    handover = _visible_handover(user, handover_id)
    try:
        decided = services.handover_accept(handover_id=handover.pk, actor=user)
    except DomainError as exc:
        if _is_htmx(request):
            return render(
                request,
                "handover/_inbox_done.html",
                {"handover": handover, "error": exc.message},
                status=409 if exc.status == 409 else 403,
            )
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        messages.error(request, exc.message)
        return redirect("handover:inbox")
    name = handover.lead.display_name
    if decided.owner_id == user.pk:
        text = _("Accepted %(name)s: it is a SAL now and yours to qualify.") % {"name": name}
    else:
        text = _("Accepted %(name)s: it is a SAL now and %(owner)s's to qualify.") % {
            "name": name,
            "owner": decided.owner,
        }
    if _is_htmx(request):
        return render(request, "handover/_inbox_done.html", {"handover": handover, "ok": text})
    messages.success(request, text)
    return redirect("handover:inbox")


@login_required
@permission_required("handover.decide_sal", raise_exception=True)
@require_POST
def reject(request: HttpRequest, handover_id: int) -> HttpResponse:
    user = request_user(request)
    handover = _visible_handover(user, handover_id)
    form = RejectForm(request.POST)
    filters = _inbox_filters(request.POST)
    if form.is_valid():
        try:
            services.handover_reject(
                handover_id=handover.pk,
                actor=user,
                reason_code=form.cleaned_data["reason"].code,
                comment=form.cleaned_data["comment"],
            )
        except DomainError as exc:
            if exc.status == 403:
                raise PermissionDenied(exc.message) from None
            messages.error(request, exc.message)
            return redirect(_inbox_url(filters))
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                # Translators: %(reason)s is the rejection reason's label
                _("Rejected %(name)s: %(reason)s.")
                % {
                    "name": handover.lead.display_name,
                    "reason": shown(form.cleaned_data["reason"].label),
                },
            )
            return redirect(_inbox_url(filters))
    # errors in place, what the user typed kept, the dialog open again
    ctx = _inbox_context(user, filters, reject_form=form, reject_handover=handover)
    return render(request, "handover/inbox.html", ctx, status=422)


@login_required
@permission_required("handover.qualify_lead", raise_exception=True)
def qualify(request: HttpRequest, lead_id: int) -> HttpResponse:
    user = request_user(request)
    lead = lead_get_visible(user=user, lead_id=lead_id)
    if lead is None:
        raise Http404(_("There is no such lead you can see."))
    frameworks = list(selectors.frameworks())
    if not frameworks:
        raise Http404(_("No qualification framework is active."))
    code = request.POST.get("framework") or request.GET.get("framework") or frameworks[0].code
    framework = next((f for f in frameworks if f.code == code), frameworks[0])
    existing = QualificationChecklist.objects.filter(lead=lead, framework=framework).first()
    answers: dict[str, Any] = existing.answers if existing else {}
    status, error = 200, ""
    if request.method == "POST":
        if lead.stage != Stage.SAL:
            error = _("%(name)s is %(stage)s now, not SAL: reload.") % {
                "name": lead.display_name,
                "stage": lead.get_stage_display(),
            }
            status = 409
        else:
            answers = checklist_answers(framework, request.POST)
            try:
                result = services.handover_qualify(
                    lead_id=lead.pk, framework_code=framework.code, answers=answers, actor=user
                )
            except DomainError as exc:
                error, status = exc.message, exc.status
            except ValidationError as exc:
                error, status = " ".join(exc.messages), 422
            else:
                if result.moved:
                    messages.success(
                        request,
                        # Translators: %(framework)s is a qualification framework (BANT, ...)
                        _("%(name)s passed %(framework)s: now an SQL.")
                        % {"name": lead.display_name, "framework": framework.name},
                    )
                    return redirect("leads:detail", lead_id=lead.pk)
                error, status = _not_passed(framework, result.checklist), 422
    rows = [
        {
            "key": c["key"],
            "label": c["label"],
            "help": c.get("help", ""),
            "met": bool(answers.get(c["key"], {}).get("met")),
            "note": answers.get(c["key"], {}).get("note", ""),
            "required": c["key"] in framework.required,
        }
        for c in framework.criteria
    ]
    ctx = {
        "lead": lead,
        "framework": framework,
        "frameworks": frameworks,
        "rows": rows,
        "required_labels": [r["label"] for r in rows if r["required"]],
        "error": error,
    }
    return render(request, "handover/qualify.html", ctx, status=status)


def _not_passed(framework: Any, checklist: QualificationChecklist) -> str:
    met = [c["label"] for c in framework.criteria if checklist.answers.get(c["key"], {}).get("met")]
    missing = [
        c["label"]
        for c in framework.criteria
        if c["key"] in framework.required and c["label"] not in met
    ]
    values = {"met": len(met), "min": framework.min_met, "missing": ", ".join(missing)}
    if missing:
        # Translators: %(missing)s lists the criteria that are required and not met
        text = _(
            "Saved, but not qualified yet: %(met)s of at least %(min)s met and %(missing)s "
            "must be met."
        )
        return text % values
    return _("Saved, but not qualified yet: %(met)s of at least %(min)s met.") % values


@login_required
@require_GET
def handover_detail(request: HttpRequest, handover_id: int) -> HttpResponse:
    """Links in notifications and e-mails point here: go to the lead's page."""
    handover = _visible_handover(request_user(request), handover_id)
    return redirect("leads:detail", lead_id=handover.lead_id)


@login_required
@require_GET
def lead_panel(request: HttpRequest, lead_id: int) -> HttpResponse:
    user = request_user(request)
    lead = lead_get_visible(user=user, lead_id=lead_id)
    if lead is None:
        raise Http404(_("There is no such lead you can see."))
    ctx: dict[str, Any] = {"lead": lead, **selectors.lead_panel(lead=lead)}
    handover = ctx["handover"]
    ctx["may_decide"] = (
        handover is not None
        and handover.status == Handover.Status.OPEN
        and permissions.may_decide(user, handover)
    )
    if permissions.may_reassign(user, lead):
        ctx["reassign_to"] = [
            (pk, name) for pk, name in selectors.reassign_choices(user=user) if pk != lead.owner_id
        ]
    return render(request, "handover/_lead_panel.html", ctx)


@login_required
@permission_required("handover.reassign_handover", raise_exception=True)
@require_POST
def lead_reassign(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The lead page's Reassign (managers): the lead, its open handover and its SLA clocks go
    to a rep of the manager's team, as in bulk assign."""
    user = request_user(request)
    lead = lead_get_visible(user=user, lead_id=lead_id)
    if lead is None:
        raise Http404(_("There is no such lead you can see."))
    owner = request.POST.get("owner", "")
    if not owner.isdigit() or len(owner) > 18:
        messages.error(request, _("Choose the rep to give this lead to."))
        return redirect("leads:detail", lead_id=lead.pk)
    try:
        services.lead_reassign(
            lead_id=lead.pk, owner_id=int(owner), actor=user, why=services.reassigned_by(user)
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except DomainError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        messages.error(request, exc.message)
    else:
        lead.refresh_from_db()
        messages.success(
            request,
            _("%(name)s now belongs to %(owner)s.")
            % {"name": lead.display_name, "owner": lead.owner},
        )
    return redirect("leads:detail", lead_id=lead.pk)


# --- notifications -------------------------------------------------------------------------------


@login_required
@require_GET
def bell(request: HttpRequest) -> HttpResponse:
    count = selectors.notification_unread_count(user=request_user(request))
    return render(request, "handover/_bell.html", {"unread": count})


@login_required
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    rows = list(selectors.notification_list(user=user).order_by("-id")[:100])
    return render(
        request,
        "handover/notifications.html",
        {"rows": rows, "unread": sum(1 for n in rows if n.read_at is None)},
    )


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    ids = [int(i) for i in request.POST.getlist("id") if i.isdigit()]
    changed = services.notifications_mark_read(user=user, ids=ids or None)
    messages.success(
        request,
        ngettext(
            "Marked %(count)s notification read.", "Marked %(count)s notifications read.", changed
        )
        % {"count": changed},
    )
    return redirect("handover:notifications")

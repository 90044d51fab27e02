"""Bulk action pages: the action bar's form posts here (plain POST, so it works without JS), and
the job page shows progress and every refused or failed lead."""

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from bulk import services
from bulk.actions import ACTIONS
from bulk.models import BulkJob, BulkOutcome
from handover.selectors import reassign_choices
from leadflow.api.auth import request_user
from leadflow.audit import audit_record
from leadflow.csv import csv_response
from leadflow.exceptions import DomainError
from leadflow.jobs import job_cancel, job_fail_if_stale, job_resume
from leadflow.models import User
from leads import selectors as lead_selectors
from leads import tags as lead_tags
from leads.customfields import visible_fields
from leads.lifecycle import REASON_REQUIRED, Stage
from leads.models import ExitReason, Lead
from leads.permissions import is_admin

OUTCOMES_SHOWN = 500
FIELD_LABELS = {
    "to": gettext_lazy("Stage"),
    "owner": gettext_lazy("Assign to"),
    "dq_reason": gettext_lazy("Disqualify reason"),
    "nurture_reason": gettext_lazy("Recycle reason"),
    "comment": gettext_lazy("Comment"),
    "lead": gettext_lazy("Selection"),
    "action": gettext_lazy("Action"),
    "token": gettext_lazy("Form"),
}


def bar_context(user: User, params: QueryDict, matching: QuerySet[Lead] | None) -> dict[str, Any]:
    """What the action bar (``bulk/_bar.html``) needs, for the list and the board (registered
    with ``leads.extensions.register_selection_bar``)."""
    # counted only once "all matching" is asked for: a count on every list load reads up to
    # BULK_MAX + 1 rows, and the list's own paging never needs it
    selecting_all = params.get("select") == "all"
    matching_count = count_matching(matching) if selecting_all else None
    prefetch_related_objects([user], "groups")  # the role checks below read them: one query
    permitted = {code: a for code, a in ACTIONS.items() if a.permitted(user)}
    reasons = list(ExitReason.objects.filter(active=True))
    query = params.copy()
    for key in ("after", "select", "sort"):
        query.pop(key, None)
    select_all = params.copy()
    select_all["select"] = "all"
    select_all.pop("after", None)
    return {
        "selection_bar": "bulk/_bar.html",
        "bulk_token": uuid.uuid4(),
        "bulk_actions": permitted,
        "bulk_stages": [
            (s.value, s.label) for s in Stage if s != Stage.SUSPECT and s not in REASON_REQUIRED
        ],
        "bulk_owners": reassign_choices(user=user) if "assign" in permitted else [],
        "bulk_tags": lead_tags.tag_names() if "tag" in permitted else [],
        "bulk_reasons": {
            route: [r for r in reasons if r.fits(to)]
            for route, to in (("disqualify", Stage.DISQUALIFIED), ("nurture", Stage.NURTURE))
        },
        "bulk_query": query.urlencode(),
        "bulk_all": selecting_all and bool(matching_count),
        "bulk_count": matching_count,
        "bulk_select_all_url": reverse("leads:list") + "?" + select_all.urlencode(),
        "bulk_max": services.BULK_MAX,
        "bulk_inline_max": services.INLINE_MAX,
    }


def count_matching(qs: QuerySet[Lead] | None) -> int | None:
    """How many leads "all matching" would act on (None: invalid filters), counted only up to
    one more than the most one submission may name."""
    if qs is None:
        return None
    return qs.order_by().values("pk")[: services.BULK_MAX + 1].count()


def _back(request: HttpRequest) -> str:
    back = request.POST.get("back", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return reverse("leads:list")
    return back or reverse("leads:list")


def _lead_ids(values: list[str]) -> list[int]:
    bad = [v for v in values if not v.isdigit() or len(v) > 18]
    if bad:
        raise ValidationError(
            {"lead": _("%(value)s is not a lead id.") % {"value": repr(bad[0][:20])}}
        )
    return [int(v) for v in values]


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_POST
def bulk_apply(request: HttpRequest) -> HttpResponseBase:
    user = request_user(request)
    back = _back(request)
    action = request.POST.get("action", "")
    all_matching = request.POST.get("all") == "1"
    try:
        ids = [] if all_matching else _lead_ids(request.POST.getlist("lead"))
        matching = None
        if all_matching:
            matching = lead_selectors.lead_matching(
                user=user, params=QueryDict(request.POST.get("query", ""))
            )
            if matching is None:
                raise ValidationError({"lead": _("Fix the filters first: they do not validate.")})
        if action == "export":
            return _export(request, user, ids, matching)
        try:
            token = uuid.UUID(request.POST.get("token", ""))
        except ValueError:
            raise ValidationError(
                {"token": _("The form is incomplete; reload the page.")}
            ) from None
        selection = ""
        if matching is not None:
            count = count_matching(matching) or 0
            selection = ngettext(
                # Translators: the English is the same for one and many; translate every plural.
                "all %(count)s leads matching the filters",
                "all %(count)s leads matching the filters",
                count,
            ) % {"count": number_format(count, force_grouping=True)}
        job = services.bulk_submit(
            actor=user,
            action_code=action,
            data=request.POST.dict(),
            token=token,
            lead_ids=ids,
            matching=matching,
            selection=selection,
            request=request,
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items() if hasattr(exc, "error_dict") else []:
            label = FIELD_LABELS.get(field, field)
            messages.error(request, f"{label}: {' '.join(errors)}")
        if not hasattr(exc, "error_dict"):
            messages.error(request, " ".join(exc.messages))
        return redirect(back)
    except DomainError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        messages.error(request, exc.message)
        return redirect(back)
    return redirect(reverse("bulk:job", args=[job.pk]) + "?" + _back_query(back))


def _back_query(back: str) -> str:
    q = QueryDict(mutable=True)
    q["back"] = back
    return q.urlencode()


def _export(
    request: HttpRequest, user: User, ids: list[int], matching: QuerySet[Lead] | None
) -> HttpResponseBase:
    """CSV of the selection (or all matching), with the list export's columns and escaping."""
    qs = matching if matching is not None else lead_selectors.lead_visible_qs(user=user)
    if matching is None:
        if not ids:
            raise ValidationError({"lead": _("Select at least one lead.")})
        qs = qs.filter(pk__in=ids)
    with transaction.atomic():
        audit_record(
            action="lead.export_csv",
            actor=user,
            target_type="lead",
            details={"bulk": True, "leads": "all matching" if matching is not None else ids[:1000]},
            request=request,
        )
    custom = visible_fields(user)
    rows = lead_selectors.lead_export_rows(
        leads=qs.select_related("owner").order_by("pk"), custom=custom
    )
    return csv_response("leads-selection.csv", lead_selectors.lead_export_header(custom), rows)


def _job_of(request: HttpRequest, pk: int) -> BulkJob:
    user = request_user(request)
    job = get_object_or_404(BulkJob.objects.select_related("created_by"), pk=pk)
    if job.created_by_id != user.pk and not is_admin(user):
        raise Http404(_("There is no such bulk action of yours."))
    return job


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_GET
def bulk_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = job_fail_if_stale(_job_of(request, pk))
    problems = job.outcomes.filter(
        result__in=[BulkOutcome.Result.REFUSED, BulkOutcome.Result.FAILED]
    ).order_by("result", "lead_id")
    back = request.GET.get("back", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    ctx = {
        "job": job,
        "problems": list(problems[:OUTCOMES_SHOWN]),
        "problems_more": max(0, job.refused + job.failed - OUTCOMES_SHOWN),
        "unchanged": job.outcomes.filter(result=BulkOutcome.Result.UNCHANGED).count(),
        "back": back or reverse("leads:list"),
    }
    partial = bool(getattr(request, "htmx", False)) and not request.htmx.boosted  # type: ignore[attr-defined]
    return render(request, "bulk/_job.html" if partial else "bulk/job.html", ctx)


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_GET
def bulk_outcomes_csv(request: HttpRequest, pk: int) -> HttpResponseBase:
    job = _job_of(request, pk)
    # the labels now, in the request's language: the rows are written as the response streams
    results = {value: str(label) for value, label in BulkOutcome.Result.choices}
    rows = (
        (o.lead_id, o.lead_label, results.get(o.result, o.result), o.message)
        for o in job.outcomes.order_by("lead_id").iterator(chunk_size=2000)
    )
    return csv_response(f"bulk-{job.pk}.csv", ("lead_id", "lead", "result", "message"), rows)


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_POST
def bulk_control(request: HttpRequest, pk: int, control: str) -> HttpResponse:
    """Cancel (stops after the batch in progress) or resume (continues after the last
    committed batch) a background bulk action — its submitter or an admin."""
    job = _job_of(request, pk)
    user = request_user(request)
    try:
        if control == "cancel":
            job_cancel(BulkJob, job.pk, actor=user, request=request)
            messages.success(request, _("Cancelling: it stops after the batch in progress."))
        elif control == "resume":
            with transaction.atomic():
                job_resume(BulkJob, job.pk, actor=user, request=request)
                transaction.on_commit(lambda: services.enqueue(job.pk))
            messages.success(request, _("Queued again: it continues after the last batch."))
        else:
            raise Http404(_("Unknown control."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("bulk:job", pk=job.pk)

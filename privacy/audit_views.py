"""The audit log page (admins: ``leadflow.view_audit_log``) and its CSV download."""

from django.contrib.auth.decorators import login_required, permission_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from leadflow.api.auth import request_user
from leadflow.audit import audit_record
from leadflow.csv import csv_response
from leadflow.models import AuditEvent
from privacy import auditlog

VIEW_AUDIT_LOG = "leadflow.view_audit_log"


def _query(request: HttpRequest, after: str = "") -> str:
    """The page's query string with ``after`` replaced (or dropped), properly encoded."""
    query = request.GET.copy()
    query.pop("after", None)
    if after:
        query["after"] = after
    return query.urlencode()


@login_required
@permission_required(VIEW_AUDIT_LOG, raise_exception=True)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form = auditlog.AuditFilterForm(request.GET or None)
    valid = form.is_bound and form.is_valid()
    error = ""
    after = None
    if request.GET.get("after"):
        after = auditlog.parse_cursor(request.GET["after"])
        if after is None:
            error = _("That page link is not valid: showing the newest entries.")
    if form.is_bound and not valid:
        rows: list[AuditEvent] = []
        next_cursor = ""
    else:
        entries = auditlog.audit_entries(filters=form.cleaned_data if valid else {})
        rows, next_cursor = auditlog.audit_page(entries=entries, after=after)
    ctx = {
        "form": form,
        "rows": rows,
        "leads": auditlog.existing_leads(rows),
        "error": error,
        "next_url": f"?{_query(request, next_cursor)}" if next_cursor else "",
        "first_url": f"?{_query(request)}" if after is not None else "",
        "csv_query": _query(request),
    }
    return render(request, "privacy/audit_log.html", ctx, status=400 if form.errors else 200)


@login_required
@permission_required(VIEW_AUDIT_LOG, raise_exception=True)
@require_GET
def audit_log_csv(request: HttpRequest) -> HttpResponseBase:
    """The filtered entries, newest first, streamed through ``leadflow.csv`` (formula-safe)."""
    form = auditlog.AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        ctx = {"form": form, "rows": [], "error": _("Fix the filters before downloading.")}
        return render(request, "privacy/audit_log.html", ctx, status=400)
    filters = form.cleaned_data if form.is_bound else {}
    with transaction.atomic():  # reading the audit log in bulk is itself audited
        audit_record(
            action="audit.export_csv",
            actor=request_user(request),
            details={"filters": {k: v for k, v in request.GET.items() if k != "after"}},
            request=request,
        )
    entries = auditlog.audit_entries(filters=filters)
    return csv_response("audit-log.csv", auditlog.CSV_HEADER, auditlog.csv_rows(entries))

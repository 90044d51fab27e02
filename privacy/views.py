"""Pages: one-click unsubscribe (public), imports and duplicates (staff with permissions)."""

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from leadflow.api.auth import request_user
from leadflow.csv import csv_response
from leadflow.exceptions import DomainError
from leadflow.jobs import job_fail_if_stale, jobs_fail_stale
from leads.models import Lead
from privacy import selectors
from privacy.forms import ImportMappingForm, ImportUploadForm
from privacy.importing import TARGETS
from privacy.imports import (
    ensure_size,
    import_job_cancel,
    import_job_create,
    import_job_resume,
    import_job_start,
    import_preview,
)
from privacy.models import DuplicatePair, ImportJob, SavedMapping
from privacy.services import unsubscribe, unsubscribe_all


@csrf_exempt  # RFC 8058: the mail provider POSTs with no session and no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation button (link scanners must not unsubscribe anyone); POST acts."""
    if request.method == "GET":
        return render(request, "privacy/unsubscribe.html", {"done": False})
    withdraw_all = request.POST.get("scope") == "all"  # the page's second button
    try:
        if withdraw_all:
            unsubscribe_all(token=token)
        else:
            unsubscribe(token=token)
    except DomainError as exc:
        return render(request, "privacy/unsubscribe.html", {"error": exc.message}, status=400)
    return render(request, "privacy/unsubscribe.html", {"done": True, "all": withdraw_all})


@login_required
@permission_required("privacy.import_leads", raise_exception=True)
def import_list(request: HttpRequest) -> HttpResponse:
    jobs_fail_stale(models=[ImportJob])  # a job whose worker died must not look alive
    return render(request, "privacy/imports.html", {"jobs": selectors.import_jobs()})


def _no_response(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def _too_large(request: HttpRequest) -> str:
    try:
        ensure_size(int(request.META.get("CONTENT_LENGTH") or 0))
    except DomainError as exc:
        return exc.message
    return ""


@csrf_exempt  # checked below, after the size: the CSRF check would read (spool) the whole body
@login_required
@permission_required("privacy.import_leads", raise_exception=True)
def import_new(request: HttpRequest) -> HttpResponse:
    """Step 1: upload. The file is checked (CSV? encoding? delimiter?) and kept as a draft."""
    if request.method == "POST" and (message := _too_large(request)):
        ctx = {"form": ImportUploadForm(), "error": message}
        return render(request, "privacy/import_new.html", ctx, status=400)
    if request.method == "POST":
        check = CsrfViewMiddleware(_no_response)
        refused = check.process_view(request, _no_response, (), {})
        if refused is not None:
            return refused
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        try:
            if form.is_valid():
                data = form.cleaned_data
                saved = data.get("saved_mapping")
                job = import_job_create(
                    upload=data["file"],
                    actor=request_user(request),
                    mapping=saved.mapping if saved else None,
                    policy=data["policy"],
                    encoding=data["encoding"],
                    delimiter=data["delimiter"],
                    dayfirst=not data["month_first"],
                    source=data["source"],
                    request=request,
                    draft=True,
                )
                return redirect("privacy:import_detail", pk=job.pk)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    status = 400 if form.errors else 200
    return render(request, "privacy/import_new.html", {"form": form}, status=status)


FIRST_ERRORS = 20  # problems an import's page lists; the CSV report has them all


@login_required
@permission_required("privacy.import_leads", raise_exception=True)
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 2 (draft): mapping + preview, then dry run or import. Later: progress and summary."""
    job = job_fail_if_stale(get_object_or_404(ImportJob, pk=pk))  # a dead worker's job: failed
    ctx: dict[str, Any] = {
        "job": job,
        "targets": TARGETS,
        "first_errors": list(job.row_errors.all()[:FIRST_ERRORS]),
        "first_errors_limit": FIRST_ERRORS,
    }
    can_start = job.status == ImportJob.Status.DRAFT or (
        job.dry_run and job.status == ImportJob.Status.DONE and bool(job.file)
    )
    if can_start and job.file:
        with job.file.open("rb") as raw:
            try:
                preview = import_preview(
                    raw=raw,
                    mapping=job.mapping or None,
                    encoding=job.encoding,
                    delimiter=job.delimiter,
                    dayfirst=job.dayfirst,
                )
            except DomainError as exc:
                preview = {"header": [], "rows": [], "mapping": {}, "error": exc.message}
        form = ImportMappingForm(
            request.POST or None,
            header=preview["header"],
            initial={
                "policy": job.policy,
                **{
                    f"map_{i}": preview["mapping"].get(c, "")
                    for i, c in enumerate(preview["header"])
                },
            },
        )
        if request.method == "POST" and form.is_valid():
            try:
                started = import_job_start(
                    job_id=job.pk,
                    actor=request_user(request),
                    mapping=form.mapping(),
                    policy=form.cleaned_data["policy"],
                    dry_run="dry_run" in request.POST,
                    save_mapping_as=form.cleaned_data["save_as"],
                )
                return redirect("privacy:import_detail", pk=started.pk)
            except DomainError as exc:
                form.add_error(None, exc.message)
        ctx.update(preview=preview, form=form, can_start=True, saved=SavedMapping.objects.all())
    partial = bool(getattr(request, "htmx", False))
    return render(request, "privacy/_import_status.html" if partial else "privacy/import.html", ctx)


@login_required
@permission_required("privacy.import_leads", raise_exception=True)
@require_POST
def import_control(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Cancel (stops at the next batch boundary) or resume (continues after the last committed
    batch; a dry run starts over) — the same permission as starting an import."""
    job = get_object_or_404(ImportJob, pk=pk)
    service = {"cancel": import_job_cancel, "resume": import_job_resume}.get(action)
    if service is None:
        raise Http404(_("Unknown action."))
    try:
        service(job_id=job.pk, actor=request_user(request), request=request)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("privacy:import_detail", pk=job.pk)  # (a 409 would lose the page)
    messages.success(request, str(_CONTROL_DONE[action]))
    return redirect("privacy:import_detail", pk=job.pk)


_CONTROL_DONE = {
    "cancel": gettext_lazy("Cancelling: the import stops after the batch in progress."),
    "resume": gettext_lazy("Queued again: it continues after the last committed batch."),
}


@login_required
@permission_required("privacy.import_leads", raise_exception=True)
def import_errors_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    rows = selectors.error_report_rows(job=job)
    header = selectors.error_report_header()
    return csv_response(f"import-{job.pk}-errors.csv", header, rows)


@login_required
@permission_required("privacy.merge_leads", raise_exception=True)
def duplicate_list(request: HttpRequest) -> HttpResponse:
    from privacy.merge import duplicates_scan

    if request.method == "POST":
        found = duplicates_scan()
        # Translators: English keeps "pair(s)" in both forms; give each plural form its own.
        text = ngettext(
            "Scan done: %(count)d possible duplicate pair(s) open.",
            "Scan done: %(count)d possible duplicate pair(s) open.",
            found,
        ) % {"count": found}
        messages.success(request, text)
        return redirect("privacy:duplicates")
    pairs = selectors.open_duplicates()[:200]
    return render(request, "privacy/duplicates.html", {"pairs": pairs})


_MERGE_FIELDS = (
    "email",
    "external_id",
    "first_name",
    "last_name",
    "phone",
    "company",
    "domain",
    "job_title",
    "stage",
    "score",
    "source",
    "created_at",
)


def _shown(lead: Lead, name: str) -> object:
    """A field as a person reads it: a choice's label ("MQL", not "mql"), a time as local ISO
    ("2026-12-04 09:30"), never the raw code or a US-style date."""
    field = lead._meta.get_field(name)
    value = getattr(lead, name)
    if getattr(field, "choices", None):
        return getattr(lead, f"get_{name}_display")()
    if isinstance(value, datetime):
        return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    return value


@login_required
@permission_required("privacy.merge_leads", raise_exception=True)
def duplicate_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Compare two leads side by side; pick the survivor, confirm on a second step (a merge
    cannot be undone), or dismiss the pair. Only a POST with ``confirm=1`` merges."""
    from privacy.merge import duplicate_dismiss, lead_merge

    pair = get_object_or_404(DuplicatePair.objects.select_related("lead_a", "lead_b"), pk=pk)
    fields = [
        (
            str(getattr(pair.lead_a._meta.get_field(name), "verbose_name", name)),
            _shown(pair.lead_a, name),
            _shown(pair.lead_b, name),
        )
        for name in _MERGE_FIELDS
    ]
    if request.method == "POST":
        try:
            if request.POST.get("action") == "dismiss":
                duplicate_dismiss(pair_id=pair.pk, actor=request_user(request))
                messages.success(request, _("Marked as not a duplicate."))
                return redirect("privacy:duplicates")
            survivor = int(request.POST.get("survivor", "0"))
            if survivor not in (pair.lead_a_id, pair.lead_b_id):
                raise ValueError(_("Choose which of the two leads to keep."))
            other = pair.lead_b_id if survivor == pair.lead_a_id else pair.lead_a_id
            if request.POST.get("confirm") != "1":
                keep, drop = (
                    (pair.lead_a, pair.lead_b)
                    if survivor == pair.lead_a_id
                    else (pair.lead_b, pair.lead_a)
                )
                rows = [
                    (label, a, b) if survivor == pair.lead_a_id else (label, b, a)
                    for label, a, b in fields
                ]
                context = {"pair": pair, "keep": keep, "drop": drop, "rows": rows}
                return render(request, "privacy/merge_confirm.html", context)
            lead = lead_merge(
                survivor_id=survivor,
                duplicate_id=other,
                actor=request_user(request),
                request=request,
            )
            messages.success(
                request,
                _("Merged lead #%(merged)s into lead #%(survivor)s.")
                % {"merged": other, "survivor": lead.pk},
            )
            return redirect("privacy:duplicates")
        except (DomainError, ValueError) as exc:
            messages.error(request, getattr(exc, "message", str(exc)))
    return render(request, "privacy/merge.html", {"pair": pair, "fields": fields})

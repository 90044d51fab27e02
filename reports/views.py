"""Report pages (filter form, chart, table) and their CSV exports, all from the selectors."""

from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from handover.selectors import team_sla_status
from leadflow.api.auth import request_user
from leadflow.csv import csv_response
from leadflow.i18n import in_site_time_zone
from reports.base import Column, Report
from reports.filters import UNUSED_FIELDS, ReportFilterForm
from reports.permissions import may_view
from reports.selectors import REPORTS, report_run

TITLES = {
    "funnel": _("Funnel"),
    "cohort": _("Cohort conversion"),
    "velocity": _("Velocity"),
    "sla": _("SLA attainment"),
    "rejections": _("Rejection reasons"),
    "exits": _("Exit reasons"),
    "recycles": _("Recycle outcomes"),
    "sources": _("Sources"),
    "point-in-time": _("Point in time"),
    "accounts-mqa": _("Accounts: MQA → opportunity → won"),
    "accounts-coverage": _("Accounts: buying-group coverage"),
    "accounts-pipeline": _("Accounts: pipeline by tier"),
    "attribution": _("Attribution"),
    "pipeline": _("Pipeline"),
    "roi": _("Return on spend"),
    "ltv": _("Lifetime value"),
}
# which grouping field each report shows in its form (the others are hidden)
GROUP_FIELD = {
    "cohort": "cohort_by",
    "sla": "sla_by",
    "rejections": "rejections_by",
    "exits": "exits_by",
    "sources": "sources_by",
    "accounts-mqa": "mqa_by",
    "attribution": "attribution_by",
    "pipeline": "pipeline_by",
    "roi": "attribution_by",
    "ltv": "ltv_by",
}
_GROUP_FIELDS = set(GROUP_FIELD.values())
# fields only some reports read, left off every other report's form
OWN_FIELDS = {
    "on": {"point-in-time"},
    "outcome": {"attribution"},
    "models": {"attribution", "roi"},
}


def _number(value: Any, decimals: int | None = None, *, grouped: bool = True) -> str:
    """``value`` with the active language's decimal mark and digit grouping (rounded first:
    Django's number_format cuts surplus decimals off)."""
    shown = value if decimals is None else round(value, decimals)
    return str(formats.number_format(shown, decimals, force_grouping=grouped))


def _display(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "rate":
        return f"{_number(value * 100, 1, grouped=False)} %"
    if kind in ("money", "number"):
        return _number(value, 2)
    if kind in ("days", "minutes"):
        return _number(value, 1)
    if kind == "int":
        return _number(value)
    return str(value)


def _chart(report: Report) -> dict[str, Any]:
    labels = {c.key: c.label for c in report.columns}
    return {
        "type": report.chart_type,
        "labels": [str(r.get(report.chart_label, "")) for r in report.rows],
        "datasets": [
            {"label": labels.get(key, key), "data": [r.get(key) for r in report.rows]}
            for key in report.chart_series
        ],
        "percent": all(c.kind == "rate" for c in report.columns if c.key in report.chart_series),
    }


def _get_report(request: HttpRequest, slug: str) -> None:
    if slug not in REPORTS:
        raise Http404(gettext("There is no report '%(slug)s'.") % {"slug": slug})
    if not may_view(request.user, slug):
        raise PermissionDenied


@login_required
@in_site_time_zone
def report_index(request: HttpRequest) -> HttpResponse:
    if not may_view(request.user):
        raise PermissionDenied
    shown = [(slug, title) for slug, title in TITLES.items() if may_view(request.user, slug)]
    return render(request, "reports/index.html", {"reports": shown})


@login_required
@in_site_time_zone
def report_page(request: HttpRequest, slug: str) -> HttpResponse:
    _get_report(request, slug)
    form = ReportFilterForm(request.GET or None, user=request.user)
    form.show_lead_owners_only()
    fields = [
        f
        for f in form
        if (f.name not in _GROUP_FIELDS or f.name == GROUP_FIELD.get(slug))
        and slug in OWN_FIELDS.get(f.name, {slug})
        and (f.name not in ("date_from", "date_to") or slug != "point-in-time")
        and f.name not in UNUSED_FIELDS.get(slug, ())
    ]
    ctx: dict[str, Any] = {"slug": slug, "title": TITLES[slug], "form": form, "fields": fields}
    if request.GET and not form.is_valid():
        return render(request, "reports/report.html", ctx, status=400)
    if not request.GET:
        form = ReportFilterForm({}, user=request.user)
        form.is_valid()
    report = report_run(slug=slug, filters=form.filters())
    ctx |= {
        "report": report,
        "headers": [c.label for c in report.columns],
        "table": [[_display(r.get(c.key), c.kind) for c in report.columns] for r in report.rows],
        "chart": _chart(report),
        "query": request.GET.urlencode(),
    }
    return render(request, "reports/report.html", ctx)


@login_required
@in_site_time_zone
def report_csv(request: HttpRequest, slug: str) -> HttpResponse | StreamingHttpResponse:
    _get_report(request, slug)
    form = ReportFilterForm(request.GET, user=request.user, slug=slug)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    report = report_run(slug=slug, filters=form.filters())
    columns: list[Column] = report.columns
    response = csv_response(
        f"{slug}-{timezone.localdate():%Y-%m-%d}.csv",
        [c.label for c in columns],
        ([r.get(c.key) for c in columns] for r in report.rows),
    )
    response["X-LeadFlow-Read-From"] = report.source.label
    return response


# (what each report answers, for the manager home page)
ABOUT = {
    "funnel": _("Leads reaching each stage and stage-to-stage conversion"),
    "cohort": _("MQL → SAL/SQL/Customer by month and source"),
    "velocity": _("Time in each stage and sales-cycle length"),
    "sla": _("Handovers accepted and contacted in time"),
    "rejections": _("Why reps send leads back, by source and rep"),
    "exits": _("Why accepted leads leave: lost, no budget, went quiet"),
    "recycles": _("What became of recycled leads"),
    "sources": _("Leads, MQLs, customers and revenue by source"),
    "point-in-time": _("Leads in each stage on a given date"),
    "accounts-mqa": _("Marketing-qualified accounts → opportunity → won, by month, tier, source"),
    "accounts-coverage": _("Won vs lost accounts: the buying roles they covered"),
    "accounts-pipeline": _("Accounts with members in SQL, and won value, by tier"),
    "attribution": _("Six attribution models side by side, per channel and campaign"),
    "pipeline": _("Open SQL deals and their expected value, by age, rep, team, source, month"),
    "roi": _(
        "Campaign costs against won revenue per channel and campaign, under each attribution model"
    ),
    "ltv": _("What customers are worth with repeat wins, by first-touch channel, source, account"),
}


@login_required
@permission_required("handover.reassign_handover", raise_exception=True)
@require_GET
def manager_home(request: HttpRequest) -> HttpResponse:
    """Team SLA status and the way into the reports."""
    links = [(slug, title, ABOUT.get(slug, "")) for slug, title in TITLES.items()]
    return render(
        request,
        "reports/manager_home.html",
        {"teams": team_sla_status(user=request_user(request)), "reports": links},
    )

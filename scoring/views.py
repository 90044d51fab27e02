"""The scoring rules editor (marketers and admins): edit a draft, dry-run it, publish it.

Every write goes through ``scoring.services``; a refused rule is shown on the form, field by field,
with what the user typed kept.
"""

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadflow.api.auth import request_user
from leadflow.csv import csv_response
from leadflow.exceptions import DomainError
from leadflow.jobs import job_fail_if_stale
from leadflow.models import User
from leads.models import Lead, Team
from scoring import account_dry_run, dry_run_leads, precision, selectors, services
from scoring.forms import DryRunLeadFilterForm, ModelSettingsForm, RuleForm, apply_service_errors
from scoring.models import DryRunLead, ScoringModel, ScoringRule, ScoringRun
from scoring.permissions import RUN_CONTROL, Perm

VIEW, CHANGE, PUBLISH = Perm.VIEW.value, Perm.CHANGE.value, Perm.PUBLISH.value


def _model(model_id: int) -> ScoringModel:
    model = selectors.model_list().filter(pk=model_id).first()
    if model is None:
        raise Http404(_("There is no such scoring model."))
    return model


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "scoring/model_list.html",
        {
            "models": selectors.model_list(),
            "published": selectors.published_model(),
            "runs": selectors.run_list().select_related("model")[:10],
        },
    )


def _detail(
    request: HttpRequest,
    model: ScoringModel,
    *,
    settings_form: ModelSettingsForm | None = None,
    rule_form: RuleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    rules = list(model.rules.order_by("kind", "id"))
    return render(
        request,
        "scoring/model_detail.html",
        {
            "model": model,
            "is_draft": model.status == ScoringModel.Status.DRAFT,
            "rules": rules,
            "precision": _precision_rows(rules),
            "precision_days": precision.WINDOW_DAYS,
            "settings_form": settings_form or ModelSettingsForm.for_model(model),
            "rule_form": rule_form or RuleForm(initial={"kind": "activity", "decay": "model"}),
            "runs": model.runs.all()[:5],
        },
        status=status,
    )


def _precision_rows(rules: list[ScoringRule]) -> list[dict[str, Any]] | None:
    """The rules editor's precision table: per rule, the handovers its leads made and, per
    outcome, the rate with the rule and without it (percent); None without handovers."""
    found = precision.rule_precision(rules)
    if found is None or not found[1].handovers:
        return None

    def pct(value: float | None) -> float | None:
        return None if value is None else round(value * 100, 1)

    return [
        {
            "rule": p.rule,
            "handovers": p.with_rule.handovers,
            "rates": [
                (pct(getattr(p.with_rule, f"{r}_rate")), pct(getattr(p.without, f"{r}_rate")))
                for r in ("accept", "sql", "win")
            ],
        }
        for p in found[0]
    ]


@login_required
@permission_required(VIEW, raise_exception=True)
@require_http_methods(["GET", "POST"])
def model_detail(request: HttpRequest, model_id: int) -> HttpResponse:
    model = _model(model_id)
    if request.method == "GET":
        return _detail(request, model)
    if not request.user.has_perm(CHANGE):
        raise Http404  # (no hint that an editor exists)
    form = ModelSettingsForm(request.POST)
    if form.is_valid():
        try:
            services.model_update(
                model_id=model.pk, data=form.cleaned_data, actor=request_user(request)
            )
        except (ValidationError, DomainError) as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("scoring:model", model.pk)
    return _detail(request, model, settings_form=form, status=422)


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_POST
def model_new_version(request: HttpRequest, model_id: int) -> HttpResponse:
    draft = services.model_new_version(model_id=_model(model_id).pk, actor=request_user(request))
    messages.success(
        request,
        _("Draft v%(version)s created: edit it, dry-run it, publish it.")
        % {"version": draft.version},
    )
    return redirect("scoring:model", draft.pk)


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_POST
def rule_add(request: HttpRequest, model_id: int) -> HttpResponse:
    model = _model(model_id)
    form = RuleForm(request.POST)
    if form.is_valid():
        try:
            rule = services.rule_create(model_id=model.pk, data=form.service_data())
        except (ValidationError, DomainError) as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Rule “%(name)s” added.") % {"name": rule.name})
            return redirect("scoring:model", model.pk)
    return _detail(request, model, rule_form=form, status=422)


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = ScoringRule.objects.select_related("model").filter(pk=rule_id).first()
    if rule is None:
        raise Http404(_("There is no such rule."))
    form = RuleForm(request.POST) if request.method == "POST" else RuleForm.for_rule(rule)
    if request.method == "POST" and form.is_valid():
        try:
            services.rule_update(rule_id=rule.pk, data=form.service_data())
        except (ValidationError, DomainError) as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request, _("Rule “%(name)s” saved.") % {"name": form.cleaned_data["name"]}
            )
            return redirect("scoring:model", rule.model_id)
    status = 422 if request.method == "POST" else 200
    return render(request, "scoring/rule_edit.html", {"rule": rule, "form": form}, status=status)


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_POST
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = ScoringRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise Http404(_("There is no such rule."))
    try:
        services.rule_delete(rule_id=rule.pk)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Rule “%(name)s” deleted.") % {"name": rule.name})
    return redirect("scoring:model", rule.model_id)


@login_required
@permission_required(CHANGE, raise_exception=True)
@require_POST
def model_dry_run(request: HttpRequest, model_id: int) -> HttpResponse:
    model = _model(model_id)
    run = services.run_start(
        model_id=model.pk,
        kind=ScoringRun.Kind.DRY_RUN,
        reason="editor",
        actor=request_user(request),
    )
    return redirect("scoring:run", run.pk)


@login_required
@permission_required(PUBLISH, raise_exception=True)
@require_POST
def model_publish(request: HttpRequest, model_id: int) -> HttpResponse:
    model = _model(model_id)
    try:
        run = services.model_publish(model_id=model.pk, actor=request_user(request))
    except (ValidationError, DomainError) as exc:
        text = exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
        # Translators: %(reason)s is why (a sentence of its own)
        messages.error(request, _("Not published: %(reason)s") % {"reason": text})
        return redirect("scoring:model", model.pk)
    messages.success(
        request,
        _("v%(version)s is published; every lead is being rescored.") % {"version": model.version},
    )
    return redirect("scoring:run", run.pk)


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_list().select_related("model").filter(pk=run_id).first()
    if run is None:
        raise Http404(_("There is no such run."))
    run = job_fail_if_stale(run)  # a run whose worker died shows failed, with the reason
    template = "scoring/_run.html" if getattr(request, "htmx", False) else "scoring/run.html"
    allowed = request.user.has_perm(RUN_CONTROL[run.kind].value)
    dry, accounts = run.kind == ScoringRun.Kind.DRY_RUN, run.result.get("accounts", {})
    context = {
        "run": run,
        "job": run,
        "cancel_url": reverse("scoring:run_cancel", args=[run.pk]) if allowed else "",
        "resume_url": reverse("scoring:run_resume", args=[run.pk]) if allowed else "",
        "finished": not run.active,
        "bins": _bins(run.result) if dry else [],
        "account_bins": _bins(accounts) if dry else [],
        "account_grades": account_dry_run.grade_rows(accounts) if dry else [],
        "movers_by_source": dry_run_leads.by_source(run_id=run.pk) if dry else [],
        "routing": run.result.get("routing") if dry else None,
    }
    return render(request, template, context)


def _dry_run(run_id: int) -> ScoringRun:
    run = selectors.run_list().select_related("model").filter(pk=run_id).first()
    if run is None or run.kind != ScoringRun.Kind.DRY_RUN:
        raise Http404(_("There is no such dry run."))
    return run


def _named(rows: list[DryRunLead]) -> list[dict[str, Any]]:
    """The page's (or a CSV chunk's) rows with their leads', owners' and teams' names."""
    leads = Lead.objects.only("first_name", "last_name", "email").in_bulk(
        [row.lead_id for row in rows]
    )
    users = {u.pk: u for u in User.objects.filter(pk__in={row.owner_id for row in rows} - {None})}
    teams = dict(
        Team.objects.filter(pk__in={row.team_id for row in rows} - {None}).values_list("pk", "name")
    )
    out = []
    for row in rows:
        lead, owner = leads.get(row.lead_id), users.get(row.owner_id or 0)
        out.append(
            {
                "row": row,
                "lead": lead,
                "lead_name": str(lead) if lead else f"#{row.lead_id}",
                "email": lead.email if lead else "",
                "owner": (owner.get_full_name() or owner.username) if owner else "",
                "team": teams.get(row.team_id or 0, ""),
            }
        )
    return out


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def run_leads(request: HttpRequest, run_id: int) -> HttpResponse:
    """The leads a dry run would move into or out of MQL, with where they would go."""
    run = _dry_run(run_id)
    form = DryRunLeadFilterForm(request.GET or None)
    owners = form.fields["owner"]
    assert isinstance(owners, forms.ModelChoiceField)  # noqa: S101  (declared so)
    owners.queryset = User.objects.filter(
        pk__in=DryRunLead.objects.filter(run_id=run.pk).values("owner_id")
    ).order_by("username")
    context: dict[str, Any] = {"run": run, "form": form}
    if form.is_bound and not form.is_valid():
        return render(request, "scoring/run_leads.html", context, status=400)
    filters = form.filters() if form.is_bound else {}
    page = Paginator(dry_run_leads.movers(run_id=run.pk, **filters), 50).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context |= {"page": page, "rows": _named(list(page)), "query": query.urlencode()}
    return render(request, "scoring/run_leads.html", context)


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def run_leads_csv(request: HttpRequest, run_id: int) -> HttpResponse | StreamingHttpResponse:
    run = _dry_run(run_id)
    form = DryRunLeadFilterForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    qs = dry_run_leads.movers(run_id=run.pk, **form.filters())

    def rows() -> Iterator[list[Any]]:
        ids = list(qs.values_list("pk", flat=True))
        for start in range(0, len(ids), 2000):
            chunk = list(DryRunLead.objects.filter(pk__in=ids[start : start + 2000]))
            chunk.sort(key=lambda row: row.lead_id)
            for r in _named(chunk):
                row = r["row"]
                yield [
                    row.lead_id, r["lead_name"], r["email"], row.move, row.score_before,
                    row.score_after, row.source, row.owner_id or "", r["owner"], r["team"],
                ]  # fmt: skip

    header = [
        "lead_id", "name", "email", "move", "score_before", "score_after", "source",
        "owner_id", "owner", "team",
    ]  # fmt: skip
    return csv_response(f"dry-run-{run.pk}-leads.csv", header, rows())


@login_required
@require_POST
def run_control(request: HttpRequest, run_id: int, action: str) -> HttpResponse:
    run = selectors.run_list().filter(pk=run_id).first()
    if run is None:
        raise Http404(_("There is no such run."))
    if not request.user.has_perm(RUN_CONTROL[run.kind].value):
        raise PermissionDenied
    service = services.run_cancel if action == "cancel" else services.run_resume
    try:
        service(run_id=run.pk, actor=request_user(request), request=request)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Cancelling: the run stops after the batch in progress.")
            if action == "cancel"
            else _("Queued again."),
        )
    return redirect("scoring:run", run.pk)


def _bins(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Before/after score distribution of a dry run (its leads, or its ``accounts`` part), in
    score order, for the table."""
    before, after = result.get("before", {}), result.get("after", {})

    def order(label: str) -> int:
        return -1 if label == "<0" else 1000 if label == "100+" else int(label.split("-")[0])

    labels = sorted(set(before) | set(after), key=order)
    return [{"label": k, "before": before.get(k, 0), "after": after.get(k, 0)} for k in labels]

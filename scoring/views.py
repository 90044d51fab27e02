"""The scoring rules editor (marketers and admins): edit a draft, dry-run it, publish it.

Every write goes through ``scoring.services``; a refused rule is shown on the form, field by field,
with what the user typed kept.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError
from leadflow.jobs import job_fail_if_stale
from scoring import account_dry_run, selectors, services
from scoring.forms import ModelSettingsForm, RuleForm, apply_service_errors
from scoring.models import ScoringModel, ScoringRule, ScoringRun
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
    return render(
        request,
        "scoring/model_detail.html",
        {
            "model": model,
            "is_draft": model.status == ScoringModel.Status.DRAFT,
            "rules": model.rules.order_by("kind", "id"),
            "settings_form": settings_form or ModelSettingsForm.for_model(model),
            "rule_form": rule_form or RuleForm(initial={"kind": "activity", "decay": "model"}),
            "runs": model.runs.all()[:5],
        },
        status=status,
    )


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
    }
    return render(request, template, context)


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

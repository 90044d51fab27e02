"""Scoring models and rules in the Django admin (until the browser editor exists).

Drafts are editable; published and archived versions are read-only (create a new version).
Forms validate with the same checks as the services (``rule_clean``/``model_clean``/overlap).
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError
from scoring import engine, services
from scoring import rules as r
from scoring.models import LeadScore, ScoringModel, ScoringRule, ScoringRun


class RuleForm(forms.ModelForm[ScoringRule]):
    class Meta:
        model = ScoringRule
        fields = services.RULE_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and not data.get("DELETE"):
            rule = ScoringRule(**{k: data.get(k) for k in services.RULE_FIELDS if k in data})
            rule.conditions = rule.conditions or []
            rule.decay_steps = rule.decay_steps or []
            services.rule_clean(rule)
        return data


class RuleFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        model = self.instance
        specs = []
        for i, form in enumerate(self.forms):
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            rule = ScoringRule(pk=i + 1, **{k: data.get(k) for k in services.RULE_FIELDS})
            rule.conditions = rule.conditions or []
            rule.decay_steps = rule.decay_steps or []
            specs.append(engine.rule_spec(rule, model))
        overlap = r.find_overlap(specs)
        if overlap is not None:
            raise ValidationError(
                gettext("Rule %(rule)s counts exactly what %(other)s counts.")
                % {"rule": repr(overlap[1].name), "other": repr(overlap[0].name)}
            )


class RuleInline(admin.StackedInline[ScoringRule, ScoringModel]):
    model = ScoringRule
    form = RuleForm
    formset = RuleFormSet
    extra = 0

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _editable(obj) and super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _editable(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _editable(obj) and super().has_delete_permission(request, obj)


def _editable(obj: Any) -> bool:
    return obj is None or getattr(obj, "status", None) == ScoringModel.Status.DRAFT


class ScoringModelForm(forms.ModelForm[ScoringModel]):
    class Meta:
        model = ScoringModel
        fields = services.MODEL_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            candidate = ScoringModel(**{k: data.get(k) for k in services.MODEL_FIELDS})
            candidate.decay_steps = candidate.decay_steps or []
            services.model_clean(candidate)
        return data


@admin.register(ScoringModel)
class ScoringModelAdmin(admin.ModelAdmin[ScoringModel]):
    form = ScoringModelForm
    inlines = [RuleInline]
    list_display = ("name", "version", "status", "mql_threshold", "published_at")
    list_filter = ("status",)
    actions = ["publish", "new_version", "dry_run"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _editable(obj) and super().has_change_permission(request, obj)

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: ScoringModel, form: Any, change: bool) -> None:
        if not change:
            ScoringModel.objects.select_for_update().order_by("-version").first()
            obj.version = services._next_version()
            obj.created_by = request_user(request)
        super().save_model(request, obj, form, change)

    def _each(self, request: HttpRequest, queryset: QuerySet[ScoringModel], do: Any) -> None:
        for model in queryset:
            try:
                do(model)
            except (DomainError, ValidationError) as exc:
                messages.error(
                    request,
                    # Translators: a scoring model version (v3) and why the action refused it
                    gettext("v%(version)s: %(error)s") % {"version": model.version, "error": exc},
                )

    @admin.action(description=_("Publish (and rescore every lead in the background)"))
    def publish(self, request: HttpRequest, queryset: QuerySet[ScoringModel]) -> None:
        self._each(
            request,
            queryset,
            lambda m: services.model_publish(model_id=m.pk, actor=request_user(request)),
        )

    @admin.action(description=_("Create a new draft version"))
    def new_version(self, request: HttpRequest, queryset: QuerySet[ScoringModel]) -> None:
        self._each(
            request,
            queryset,
            lambda m: services.model_new_version(model_id=m.pk, actor=request_user(request)),
        )

    @admin.action(description=_("Dry run against current data (see Scoring runs)"))
    def dry_run(self, request: HttpRequest, queryset: QuerySet[ScoringModel]) -> None:
        self._each(
            request,
            queryset,
            lambda m: services.run_start(
                model_id=m.pk, kind=ScoringRun.Kind.DRY_RUN, actor=request_user(request)
            ),
        )


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ScoringRun)
class ScoringRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "model", "kind", "status", "reason", "done", "total", "created_at")
    list_filter = ("kind", "status")


@admin.register(LeadScore)
class LeadScoreAdmin(ReadOnlyAdmin):
    list_display = ("lead", "model", "score", "fit_score", "engagement_score", "grade")
    raw_id_fields = ("lead",)
    list_select_related = ("model",)

"""Settings › Custom fields: list, create, edit, change type (previewed) and delete (previewed).
Every change goes through leads.customfield_services, which audits it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from configure.customfield_forms import CustomFieldForm, TypeChangeForm, parse_choices
from configure.integrations_forms import add_service_errors
from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError
from leadflow.roles import ROLE_LABELS, Role
from leads import customfield_services as services
from leads.models import CustomField, FieldType

PERM = "leads.change_customfield"


def _roles(names: list[str]) -> str:
    return ", ".join(str(ROLE_LABELS[Role(n)]) for n in names) or _("Everyone")


@login_required
@permission_required(PERM, raise_exception=True)
def field_list(request: HttpRequest) -> HttpResponse:
    rows = [
        (
            f,
            [
                f.label,
                f.key,
                f.get_type_display(),
                f.required,
                _roles(f.visible_to),
                _roles(f.editable_by),
                f.show_on_cards,
                f.filterable,
            ],
        )
        for f in CustomField.objects.all()
    ]
    headings = [
        _("Label"),
        _("Key"),
        _("Type"),
        _("Required"),
        _("Seen by"),
        _("Edited by"),
        _("On cards"),
        _("Indexed"),
    ]
    return render(
        request, "configure/custom_fields/list.html", {"rows": rows, "headings": headings}
    )


@login_required
@permission_required(PERM, raise_exception=True)
@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    instance = get_object_or_404(CustomField, pk=pk) if pk is not None else None
    form = CustomFieldForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        data = form.service_data(creating=instance is None)
        try:
            if instance is None:
                saved = services.field_create(
                    data=data, actor=request_user(request), request=request
                )
            else:
                saved = services.field_update(
                    field_id=instance.pk, data=data, actor=request_user(request), request=request
                )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Saved the field “%(label)s”.") % {"label": saved.label})
            return redirect("configure:custom_fields")
    status = 422 if request.method == "POST" else 200
    ctx = {"form": form, "object": instance}
    return render(request, "configure/custom_fields/form.html", ctx, status=status)


@login_required
@permission_required(PERM, raise_exception=True)
@require_http_methods(["GET", "POST"])
def field_change_type(request: HttpRequest, pk: int) -> HttpResponse:
    """Pick a type, see what the values would become, then confirm (or go back)."""
    field = get_object_or_404(CustomField, pk=pk)
    form = TypeChangeForm(request.POST or None, initial={"to": field.type})
    preview = None
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        choices = parse_choices(data["choices"]) if data["choices"].strip() else None
        try:
            _field, preview = services.preview_type_change(
                field_id=pk, to=data["to"], choices=choices, currency=data["currency"]
            )
            if data["expect_dropped"] is not None and "confirm" in request.POST:
                done = services.field_change_type(
                    field_id=pk,
                    to=data["to"],
                    actor=request_user(request),
                    expect_dropped=data["expect_dropped"],
                    choices=choices,
                    currency=data["currency"],
                    request=request,
                )
                messages.success(
                    request,
                    _(
                        # Translators: type is the new field type in lower case, e.g. "number".
                        "“%(label)s” is now %(type)s: %(converted)s value(s) converted, "
                        "%(dropped)s dropped (kept in the audit log)."
                    )
                    % {
                        "label": field.label,
                        "type": str(FieldType(data["to"]).label).lower(),
                        "converted": done.convert,
                        "dropped": done.fail,
                    },
                )
                return redirect("configure:custom_fields")
        except (ValidationError, DomainError) as exc:
            if isinstance(exc, DomainError):
                exc = ValidationError(exc.message)
            add_service_errors(form, exc)
            preview, status = None, 422
        else:
            form = TypeChangeForm(
                initial={**data, "choices": data["choices"], "expect_dropped": preview.fail}
            )
    elif request.method == "POST":
        status = 422
    ctx = {"field": field, "form": form, "preview": preview}
    return render(request, "configure/custom_fields/type.html", ctx, status=status)


@login_required
@permission_required(PERM, raise_exception=True)
@require_http_methods(["GET", "POST"])
def field_delete(request: HttpRequest, pk: int) -> HttpResponse:
    field = get_object_or_404(CustomField, pk=pk)
    error, status = "", 200
    if request.method == "POST":
        try:
            dropped = services.field_delete(
                field_id=pk, actor=request_user(request), request=request
            )
        except DomainError as exc:
            error, status = exc.message, 409
        else:
            messages.success(
                request,
                ngettext(
                    "Deleted “%(label)s” and its %(count)s value(s); the audit log keeps them.",
                    "Deleted “%(label)s” and its %(count)s value(s); the audit log keeps them.",
                    dropped,
                )
                % {"label": field.label, "count": dropped},
            )
            return redirect("configure:custom_fields")
    ctx = {"field": field, "preview": services.preview_delete(field_id=pk), "error": error}
    return render(request, "configure/custom_fields/delete.html", ctx, status=status)

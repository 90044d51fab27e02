"""The marketer's capture pages (/capture/…): forms list, new form, and each form's tabs —
settings, fields, consent texts, embed, submissions, rejections, analytics.

Reading needs ``capture.view_form``, every write ``capture.manage_forms`` (marketers and admins;
anonymous visitors go to the log-in page, other roles get 403). Views check the input's shape
and call one capture.editing service; a refusal comes back as an error on the field it names,
with status 422, and nothing written.
"""

from collections.abc import Callable
from typing import Any, Final, NoReturn

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from capture import analytics, editing
from capture.forms import (
    ConsentChangeForm,
    ConsentForm,
    FieldForm,
    FormSettingsForm,
    NewFormForm,
    RejectionFilterForm,
)
from capture.models import ConsentText, Form, FormField
from capture.snippets import form_snippets
from configure.integrations_forms import named_errors
from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError

VIEW: Final = "capture.view_form"
MANAGE: Final = "capture.manage_forms"
PER_PAGE: Final = 25

View = Callable[..., HttpResponse]


def _needs(perm: str) -> Callable[[View], View]:
    """Anonymous: to the log-in page; logged in without ``perm``: 403."""

    def wrap(view: View) -> View:
        return login_required(permission_required(perm, raise_exception=True)(view))

    return wrap


def _form(form_id: int) -> Form:
    return get_object_or_404(Form, pk=form_id)


def _refused(form: django_forms.Form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _tab(
    request: HttpRequest,
    template: str,
    capture_form: Form,
    tab: str,
    status: int = 200,
    **ctx: Any,
) -> HttpResponse:
    ctx = {"capture_form": capture_form, "tab": tab, **ctx}
    return render(request, template, ctx, status=status)


def _status_of(*forms: django_forms.Form | None) -> int:
    return 422 if any(f is not None and f.is_bound and f.errors for f in forms) else 200


# --- list and new -------------------------------------------------------------------------------


@_needs(VIEW)
def form_list(request: HttpRequest) -> HttpResponse:
    return render(request, "capture/list.html", {"rows": analytics.form_rows()})


@_needs(MANAGE)
@require_http_methods(["GET", "POST"])
def form_new(request: HttpRequest) -> HttpResponse:
    form = NewFormForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            created = editing.form_create(
                settings=editing.FormSettings(**form.cleaned_data),
                actor=request_user(request),
                request=request,
            )
        except DomainError as exc:
            _refused(form, exc)
        else:
            messages.success(
                request,
                _("Created the form “%(name)s”. Add its fields next.") % {"name": created.name},
            )
            return redirect("capture:fields", form_id=created.pk)
    ctx = {"form": form, "error_list": named_errors(form)}
    return render(request, "capture/new.html", ctx, status=_status_of(form))


# --- settings -----------------------------------------------------------------------------------


@_needs(VIEW)
@require_http_methods(["GET", "POST"])
def form_settings(request: HttpRequest, form_id: int) -> HttpResponse:
    capture_form = _form(form_id)
    form = FormSettingsForm(
        request.POST if request.method == "POST" else None,
        initial=FormSettingsForm.initial_of(capture_form),
    )
    if request.method == "POST":
        if not request.user.has_perm(MANAGE):
            _forbidden()
        if form.is_valid():
            try:
                editing.form_update(
                    form_id=capture_form.pk,
                    settings=form.settings(),
                    actor=request_user(request),
                    request=request,
                )
            except DomainError as exc:
                _refused(form, exc)
            else:
                messages.success(request, _("Saved the form's settings."))
                return redirect("capture:settings", form_id=capture_form.pk)
    return _tab(
        request,
        "capture/settings.html",
        capture_form,
        "settings",
        status=_status_of(form),
        form=form,
        error_list=named_errors(form),
    )


def _forbidden() -> NoReturn:
    raise PermissionDenied(_("Your role may not change capture forms."))


# --- fields -------------------------------------------------------------------------------------


def _fields_page(
    request: HttpRequest,
    capture_form: Form,
    add_form: FieldForm | None = None,
    problem: str = "",
) -> HttpResponse:
    add_form = add_form or FieldForm(initial={"kind": "text"})
    status = 422 if problem else _status_of(add_form)
    return _tab(
        request,
        "capture/fields.html",
        capture_form,
        "fields",
        status=status,
        fields=analytics.form_fields(capture_form),
        form=add_form,
        error_list=named_errors(add_form) if add_form.is_bound else [],
        problem=problem,
    )


@_needs(VIEW)
@require_http_methods(["GET", "POST"])
def fields(request: HttpRequest, form_id: int) -> HttpResponse:
    capture_form = _form(form_id)
    if request.method == "GET":
        return _fields_page(request, capture_form)
    if not request.user.has_perm(MANAGE):
        _forbidden()
    form = FieldForm(request.POST)
    if form.is_valid():
        try:
            field = editing.field_add(
                form_id=capture_form.pk,
                spec=form.spec(),
                actor=request_user(request),
                request=request,
            )
        except DomainError as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("Added the field “%(label)s”.") % {"label": field.label})
            return redirect("capture:fields", form_id=capture_form.pk)
    return _fields_page(request, capture_form, form)


def _field(capture_form: Form, field_id: int) -> FormField:
    return get_object_or_404(FormField, pk=field_id, form=capture_form)


@_needs(MANAGE)
@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, form_id: int, field_id: int) -> HttpResponse:
    capture_form = _form(form_id)
    field = _field(capture_form, field_id)
    initial = {k: getattr(field, k) for k in editing.FieldSpec.__dataclass_fields__}
    form = FieldForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            editing.field_update(
                form_id=capture_form.pk,
                field_id=field.pk,
                spec=form.spec(),
                actor=request_user(request),
                request=request,
            )
        except DomainError as exc:
            _refused(form, exc)
        else:
            messages.success(
                request, _("Saved the field “%(label)s”.") % {"label": form.spec().label}
            )
            return redirect("capture:fields", form_id=capture_form.pk)
    return _tab(
        request,
        "capture/field_edit.html",
        capture_form,
        "fields",
        status=_status_of(form),
        field=field,
        form=form,
        error_list=named_errors(form),
    )


@_needs(MANAGE)
@require_POST
def field_delete(request: HttpRequest, form_id: int, field_id: int) -> HttpResponse:
    capture_form = _form(form_id)
    field = _field(capture_form, field_id)
    try:
        editing.field_delete(
            form_id=capture_form.pk,
            field_id=field.pk,
            actor=request_user(request),
            request=request,
        )
    except DomainError as exc:
        return _fields_page(request, capture_form, problem=f"{field.label}: {exc.message}")
    messages.success(request, _("Deleted the field “%(label)s”.") % {"label": field.label})
    return redirect("capture:fields", form_id=capture_form.pk)


@_needs(MANAGE)
@require_POST
def field_move(request: HttpRequest, form_id: int, field_id: int) -> HttpResponse:
    capture_form = _form(form_id)
    field = _field(capture_form, field_id)
    step = {"up": -1, "down": 1}.get(request.POST.get("direction", ""))
    if step is None:
        return _fields_page(request, capture_form, problem=_("Direction: choose up or down."))
    editing.field_move(
        form_id=capture_form.pk,
        field_id=field.pk,
        step=step,
        actor=request_user(request),
        request=request,
    )
    if request.htmx:  # type: ignore[attr-defined]
        return _tab(
            request,
            "capture/_fields_table.html",
            capture_form,
            "fields",
            fields=analytics.form_fields(capture_form),
        )
    return redirect(reverse("capture:fields", kwargs={"form_id": capture_form.pk}) + "#fields")


# --- consent texts ------------------------------------------------------------------------------


def _consents_page(
    request: HttpRequest, capture_form: Form, add_form: ConsentForm | None = None
) -> HttpResponse:
    add_form = add_form or ConsentForm()
    return _tab(
        request,
        "capture/consents.html",
        capture_form,
        "consents",
        status=_status_of(add_form),
        history=analytics.consent_history(capture_form),
        form=add_form,
        error_list=named_errors(add_form) if add_form.is_bound else [],
    )


@_needs(VIEW)
@require_http_methods(["GET", "POST"])
def consents(request: HttpRequest, form_id: int) -> HttpResponse:
    capture_form = _form(form_id)
    if request.method == "GET":
        return _consents_page(request, capture_form)
    if not request.user.has_perm(MANAGE):
        _forbidden()
    form = ConsentForm(request.POST)
    if form.is_valid():
        try:
            consent = editing.consent_add(
                form_id=capture_form.pk,
                actor=request_user(request),
                request=request,
                **form.cleaned_data,
            )
        except DomainError as exc:
            _refused(form, exc)
        else:
            messages.success(
                request,
                _("Added the consent “%(key)s” (version %(version)s).")
                % {"key": consent.key, "version": consent.version},
            )
            return redirect("capture:consents", form_id=capture_form.pk)
    return _consents_page(request, capture_form, form)


def _current(capture_form: Form, key: str) -> ConsentText:
    return get_object_or_404(ConsentText, form=capture_form, key=key, retired=False)


@_needs(MANAGE)
@require_http_methods(["GET", "POST"])
def consent_change(request: HttpRequest, form_id: int, key: str) -> HttpResponse:
    capture_form = _form(form_id)
    current = _current(capture_form, key)
    initial = {"text": current.text, "channel": current.channel, "required": current.required}
    form = ConsentChangeForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            newer = editing.consent_change(
                form_id=capture_form.pk,
                key=current.key,
                actor=request_user(request),
                request=request,
                **form.cleaned_data,
            )
        except DomainError as exc:
            _refused(form, exc)
        else:
            if newer.pk == current.pk:
                messages.info(
                    request,
                    _("Nothing changed: the text stays at version %(v)s.") % {"v": current.version},
                )
            else:
                messages.success(
                    request,
                    _(
                        "Saved “%(key)s” as version %(version)s; version %(old)s is retired and "
                        "kept for the consents given with it."
                    )
                    % {"key": newer.key, "version": newer.version, "old": current.version},
                )
            return redirect("capture:consents", form_id=capture_form.pk)
    return _tab(
        request,
        "capture/consent_change.html",
        capture_form,
        "consents",
        status=_status_of(form),
        current=current,
        form=form,
        error_list=named_errors(form),
    )


@_needs(MANAGE)
@require_POST
def consent_retire(request: HttpRequest, form_id: int, key: str) -> HttpResponse:
    capture_form = _form(form_id)
    current = _current(capture_form, key)
    editing.consent_retire(
        form_id=capture_form.pk, key=current.key, actor=request_user(request), request=request
    )
    messages.success(
        request,
        _("Removed the consent “%(key)s” from the form; its versions are kept.")
        % {"key": current.key},
    )
    return redirect("capture:consents", form_id=capture_form.pk)


# --- embed, submissions, rejections, analytics ----------------------------------------------------


@_needs(VIEW)
def embed(request: HttpRequest, form_id: int) -> HttpResponse:
    capture_form = _form(form_id)
    origin = request.build_absolute_uri("/").rstrip("/")
    snippets = form_snippets(
        form=capture_form,
        origin=origin,
        fields=analytics.form_fields(capture_form),
        consents=analytics.consent_current(capture_form),
    )
    return _tab(
        request,
        "capture/embed.html",
        capture_form,
        "embed",
        snippets=snippets,
        origin=origin,
        origins=capture_form.origins(),
    )


def _change_rows(changes: object) -> list[tuple[str, str]]:
    """Proposed changes as (trait, what) lines, whatever shape the submission stored."""
    if not isinstance(changes, dict):
        return []
    rows = []
    for trait, change in changes.items():
        if isinstance(change, dict):
            old = change.get("old", change.get("from", change.get("current", "")))
            new = change.get("new", change.get("to", change.get("proposed", "")))
            rows.append((str(trait), f"{old} → {new}"))
        else:
            rows.append((str(trait), str(change)))
    return rows


@_needs(VIEW)
def submissions(request: HttpRequest, form_id: int) -> HttpResponse:
    capture_form = _form(form_id)
    page = Paginator(analytics.submission_list(form=capture_form), PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = [(s, _change_rows(s.proposed_changes)) for s in page.object_list]
    return _tab(
        request, "capture/submissions.html", capture_form, "submissions", page=page, rows=rows
    )


@_needs(VIEW)
def rejections(request: HttpRequest, form_id: int) -> HttpResponse:
    capture_form = _form(form_id)
    filters = RejectionFilterForm(request.GET or None)
    reason = filters.cleaned_data["reason"] if filters.is_valid() else ""
    page = Paginator(analytics.rejection_list(form=capture_form, reason=reason), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return _tab(
        request,
        "capture/rejections.html",
        capture_form,
        "rejections",
        status=400 if filters.is_bound and filters.errors else 200,
        page=page,
        filters=filters,
        reason=reason,
        error_list=named_errors(filters) if filters.is_bound else [],
    )


@_needs(VIEW)
def form_analytics(request: HttpRequest, form_id: int) -> HttpResponse:
    capture_form = _form(form_id)
    return _tab(
        request,
        "capture/analytics.html",
        capture_form,
        "analytics",
        stats=analytics.form_analytics(form=capture_form),
    )

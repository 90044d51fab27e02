"""Sales Settings pages: one generic list / create-or-edit / delete for every configuration kind
(configure/sales_registry.py), and the users pages. Each view checks its section's permission,
validates with the model's rules and saves through one service (audited)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from configure import sales_services as services
from configure.sales_forms import UserCreateForm, UserEditForm
from configure.sales_registry import KINDS, ConfigKind, Verbatim
from configure.sections import SALES_SECTIONS
from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError
from leadflow.lockout import login_unlock
from leadflow.models import User
from leadflow.roles import Role
from leads.models import Team

USERS_PERM = next(s.permission for s in SALES_SECTIONS if s.url_name == "users")


def _kind(request: HttpRequest, url_name: str) -> ConfigKind:
    kind = KINDS[url_name]
    if not request.user.has_perm(kind.section.permission):
        raise PermissionDenied(
            # Translators: section is a Settings section's title in lower case, e.g. "sla policies".
            _("You may not change %(section)s.") % {"section": str(kind.section.title).lower()}
        )
    return kind


def _cell(value: object) -> tuple[str, bool]:
    """The text of a list cell, and whether it is verbatim data (``translate="no"``)."""
    if isinstance(value, Verbatim):
        return (str(value.value) if value.value not in (None, "") else "—"), True
    if value is None or value == "":
        return "—", False
    if isinstance(value, bool):
        return (_("Yes") if value else _("No")), False
    if isinstance(value, datetime):
        return str(formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")), False
    return str(value), False


@login_required
def config_list(request: HttpRequest, *, kind_name: str) -> HttpResponse:
    kind = _kind(request, kind_name)
    rows = [
        (obj, [_cell(value(obj)) for _heading, value in kind.columns]) for obj in kind.queryset()
    ]
    ctx = {"kind": kind, "headings": [h for h, _value in kind.columns], "rows": rows}
    return render(request, "configure/sales/list.html", ctx)


@login_required
def config_edit(request: HttpRequest, *, kind_name: str, pk: int | None = None) -> HttpResponse:
    kind = _kind(request, kind_name)
    instance = get_object_or_404(kind.model, pk=pk) if pk is not None else kind.model()
    data = request.POST if request.method == "POST" else None
    form = kind.form(data, instance=instance)
    inline = kind.inline(data, instance=instance, prefix="members") if kind.inline else None
    if data is not None and form.is_valid() and (inline is None or inline.is_valid()):
        obj = form.save(commit=False)
        changed = list(form.changed_data)
        if inline is not None and inline.has_changed():
            changed.append(inline.prefix or "members")

        def save_related() -> None:
            form.save_m2m()
            if inline is not None:
                inline.instance = obj
                inline.save()

        services.config_save(
            instance=obj,
            actor=request_user(request),
            changed=changed,
            save_related=save_related,
            request=request,
        )
        messages.success(
            request, _("Saved %(noun)s “%(name)s”.") % {"noun": kind.noun, "name": obj}
        )
        return redirect(f"configure:{kind.url_name}")
    ctx = {"kind": kind, "form": form, "inline": inline, "object": instance if pk else None}
    status = 422 if data is not None else 200
    return render(request, "configure/sales/form.html", ctx, status=status)


@login_required
def config_delete(request: HttpRequest, *, kind_name: str, pk: int) -> HttpResponse:
    kind = _kind(request, kind_name)
    if not kind.deletable:
        raise PermissionDenied(_("A %(noun)s cannot be deleted here.") % {"noun": kind.noun})
    obj = get_object_or_404(kind.model, pk=pk)
    error, status = "", 200
    if request.method == "POST":
        try:
            services.config_delete(instance=obj, actor=request_user(request), request=request)
        except services.InUseError as exc:
            error, status = exc.message, 409
        else:
            messages.success(
                request, _("Deleted %(noun)s “%(name)s”.") % {"noun": kind.noun, "name": obj}
            )
            return redirect(f"configure:{kind.url_name}")
    can_deactivate = bool(error) and getattr(obj, "active", False) is True
    ctx = {"kind": kind, "object": obj, "error": error, "can_deactivate": can_deactivate}
    return render(request, "configure/sales/delete.html", ctx, status=status)


@login_required
@require_POST
def config_deactivate(request: HttpRequest, *, kind_name: str, pk: int) -> HttpResponse:
    """What to do instead of deleting a row still in use: keep it, no longer offer it."""
    kind = _kind(request, kind_name)
    obj = get_object_or_404(kind.model, pk=pk)
    if not hasattr(obj, "active"):
        raise PermissionDenied(_("A %(noun)s cannot be deactivated.") % {"noun": kind.noun})
    if obj.active:
        obj.active = False
        services.config_save(
            instance=obj, actor=request_user(request), changed=["active"], request=request
        )
    messages.success(
        request,
        _("Deactivated %(noun)s “%(name)s”: kept, no longer used.")
        % {"noun": kind.noun, "name": obj},
    )
    return redirect(f"configure:{kind.url_name}")


# --- users -----------------------------------------------------------------------------------


def _users_only(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.has_perm(USERS_PERM):
            raise PermissionDenied(_("Only admins manage users."))
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@_users_only
def users(request: HttpRequest) -> HttpResponse:
    people = User.objects.order_by("-is_active", "first_name", "last_name", "username")
    people = people.prefetch_related("groups", Prefetch("teams", Team.objects.order_by("name")))
    rows = [(u, services.user_role(u), ", ".join(t.name for t in u.teams.all())) for u in people]
    return render(request, "configure/sales/users.html", {"rows": rows})


def _user_input(form: UserEditForm) -> services.UserInput:
    d = form.cleaned_data
    return services.UserInput(
        first_name=d["first_name"],
        last_name=d["last_name"],
        email=d["email"],
        role=Role(d["role"]),
        teams=list(d["teams"]),
    )


def _show_errors(form: UserEditForm, exc: ValidationError) -> None:
    for name, errors in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


@_users_only
def user_new(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None, initial={"role": Role.SALES_REP.value})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                data=_user_input(form),
                actor=request_user(request),
                request=request,
            )
        except ValidationError as exc:
            _show_errors(form, exc)
        else:
            messages.success(
                request,
                _("Created %(username)s: they can log in now.") % {"username": user.get_username()},
            )
            return redirect("configure:users")
    status = 422 if request.method == "POST" else 200
    return render(request, "configure/sales/user_form.html", {"form": form}, status=status)


@_users_only
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    initial = {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "role": services.user_role(person),
        "teams": list(person.teams.all()),
    }
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(
                user=person, data=_user_input(form), actor=request_user(request), request=request
            )
        except ValidationError as exc:
            _show_errors(form, exc)
        except DomainError as exc:
            raise PermissionDenied(exc.message) from None
        else:
            messages.success(
                request, _("Saved %(username)s.") % {"username": person.get_username()}
            )
            return redirect("configure:users")
    status = 422 if request.method == "POST" else 200
    ctx = {"form": form, "person": person}
    return render(request, "configure/sales/user_form.html", ctx, status=status)


@_users_only
@require_POST
def user_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        still_open = services.user_set_active(
            user=person, active=active, actor=request_user(request), request=request
        )
    except DomainError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        messages.error(request, exc.message)
        return redirect("configure:user_edit", pk=person.pk)
    if active:
        messages.success(request, _("%(person)s can log in again.") % {"person": person})
    else:
        said = _("Deactivated %(person)s: they can no longer log in.") % {"person": person}
        if still_open:
            said += " " + ngettext(
                "%(count)s open handover(s) still belong to them: reassign them from the SAL "
                "inbox.",
                "%(count)s open handover(s) still belong to them: reassign them from the SAL "
                "inbox.",
                still_open,
            ) % {"count": still_open}
        messages.success(request, said)
    return redirect(reverse("configure:users"))


@_users_only
@require_POST
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    """Forget the user's failed log-ins (a paused log-in works again at once; audited)."""
    person = get_object_or_404(User, pk=pk)
    forgot = login_unlock(
        actor=request_user(request), username=person.get_username(), request=request
    )
    if forgot:
        messages.success(
            request, _("%(username)s can log in again.") % {"username": person.get_username()}
        )
    else:
        messages.info(
            request,
            _("%(username)s had no failed log-ins to forget.")
            % {"username": person.get_username()},
        )
    return redirect("configure:user_edit", pk=person.pk)

"""Browser pages for accounts (/companies/…): the list, new and edit, the account page with its
buying group and members, the merge of a duplicate, and the lead page's "Account" panel.

Reading needs ``companies.view_account``; each write its own permission (anonymous visitors go
to the log-in page, other roles get 403). Views check the input's shape and call one service; a
refusal comes back as an error on the field it names, with status 422, and nothing written.
"""

from collections.abc import Callable
from typing import Any, Final

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from companies import extensions, panels, selectors, services
from companies.extensions import ScoredAccountFilterSet
from companies.filtersets import AccountFilterSet
from companies.forms import AccountForm, AddMemberForm, MemberRoleForm, MergeForm
from companies.models import Account, AccountDomain, BuyingRole, Membership, Tier
from configure.integrations_forms import named_errors
from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError
from leads.permissions import Perm
from leads.selectors import assignable_users, lead_editable, lead_visible_qs

VIEW: Final = "companies.view_account"
ADD: Final = "companies.add_account"
CHANGE: Final = "companies.change_account"
MERGE: Final = "companies.merge_accounts"
SET_ROLE: Final = "companies.set_buying_role"
PER_PAGE: Final = 25
MEMBERS_PER_PAGE: Final = 50
MERGE_CANDIDATES: Final = 20

View = Callable[..., HttpResponse]


def _needs(perm: str) -> Callable[[View], View]:
    """Anonymous: to the log-in page; logged in without ``perm``: 403."""

    def wrap(view: View) -> View:
        return login_required(permission_required(perm, raise_exception=True)(view))

    return wrap


def _visible_or_404(request: HttpRequest, account_id: int) -> Account:
    account = selectors.account_get_visible(user=request_user(request), account_id=account_id)
    if account is None:
        raise Http404(_("There is no such account."))
    return account


def _service_errors(form: django_forms.Form, exc: ValidationError | DomainError) -> None:
    """A service's refusal onto the form: on the field it names where the form has one."""
    if isinstance(exc, DomainError):
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _with_domains(qs: Any) -> Any:
    return qs.prefetch_related(
        Prefetch(
            "domains",
            queryset=AccountDomain.objects.order_by("-is_primary", "domain"),
            to_attr="domain_list",
        )
    )


def _query_without(params: QueryDict, *names: str) -> str:
    query = params.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


# --- list ---------------------------------------------------------------------------------------


@_needs(VIEW)
@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    filterset = ScoredAccountFilterSet(request.GET, queryset=selectors.account_list_qs(user=user))
    valid = filterset.is_valid()
    qs = _with_domains(filterset.qs) if valid else Account.objects.none()
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    scores = extensions.account_scores([a.pk for a in page.object_list])
    for a in page.object_list:  # the Score and Grade columns (None, "": not scored yet)
        score, grade = scores.get(a.pk, (None, ""))
        setattr(a, "score", score)  # noqa: B010  (not Account fields: mypy knows them not)
        setattr(a, "grade", grade)  # noqa: B010
    ctx = {
        "page": page,
        "filterset": filterset,
        "filter_errors": {} if valid else filterset.form.errors,
        "filters": request.GET,
        "tiers": [
            (value, label, value in request.GET.getlist("tier")) for value, label in Tier.choices
        ],
        "grades": [(g, g in request.GET.getlist("grade")) for g in extensions.GRADES],
        "owners": assignable_users(),
        "page_query": _query_without(request.GET, "page"),
        "filtered": bool(_query_without(request.GET, "page")),
    }
    return render(request, "companies/list.html", ctx, status=200 if valid else 400)


# --- new and edit -------------------------------------------------------------------------------


@_needs(ADD)
@require_http_methods(["GET", "POST"])
def account_new(request: HttpRequest) -> HttpResponse:
    form = AccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.account_create(
                data=form.data_for_service(), actor=request_user(request)
            )
        except (ValidationError, DomainError) as exc:
            _service_errors(form, exc)
        else:
            members = selectors.current_members_qs(account_id=account.pk).count()
            messages.success(
                request,
                ngettext(
                    "Created the account “%(name)s” with %(count)s member.",
                    "Created the account “%(name)s” with %(count)s members.",
                    members,
                )
                % {"name": account.name, "count": members},
            )
            return redirect("companies:detail", account_id=account.pk)
    ctx = {"form": form, "error_list": named_errors(form), "account": None}
    return render(request, "companies/form.html", ctx, status=422 if form.errors else 200)


@_needs(CHANGE)
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, account_id: int) -> HttpResponse:
    account = _visible_or_404(request, account_id)
    form = AccountForm(
        request.POST if request.method == "POST" else None, initial=AccountForm.initial_of(account)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.account_update(
                account_id=account.pk, data=form.data_for_service(), actor=request_user(request)
            )
        except (ValidationError, DomainError) as exc:
            _service_errors(form, exc)
        else:
            messages.success(
                request, _("Saved the account “%(name)s”.") % {"name": form.cleaned_data["name"]}
            )
            return redirect("companies:detail", account_id=account.pk)
    ctx = {"form": form, "error_list": named_errors(form), "account": account}
    return render(request, "companies/form.html", ctx, status=422 if form.errors else 200)


# --- the account page ---------------------------------------------------------------------------


def _role_choices() -> list[tuple[str, str]]:
    """The buying roles with their labels translated once (each member row lists them all: 50
    rows of lazy labels were 700 translations a page)."""
    return [(value, str(label)) for value, label in BuyingRole.choices]


def _detail_page(
    request: HttpRequest, account: Account, status: int = 200, **extra: Any
) -> HttpResponse:
    user = request_user(request)
    roster = selectors.account_roster(account)
    page: Page[Any]
    if user.has_perm(Perm.VIEW_ALL_LEADS):
        # every member is visible: the page is cut from the roster, and only its rows are read
        ordered: list[Any] = selectors.members_by_score(roster)
        page = Paginator(ordered, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
        page.object_list = selectors.members_in_order(
            account_id=account.pk, lead_ids=list(page.object_list)
        )
    else:
        members = selectors.account_members(user=user, account_id=account.pk)
        page = Paginator(members, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    ctx = {
        "account": account,
        "domains": list(account.domains.order_by("-is_primary", "domain")),
        "subsidiaries": list(account.children.order_by("name", "pk")[:50]),
        "coverage": selectors.buying_coverage(roster),
        "page": page,
        "roles": _role_choices(),
        "can_set_role": user.has_perm(SET_ROLE),
        "can_add_member": panels.may_change(user),
        "add_form": AddMemberForm(),
        "account_panels": extensions.account_panels(request=request, account=account),
        **extra,
    }
    return render(request, "companies/detail.html", ctx, status=status)


@_needs(VIEW)
@require_GET
def account_detail(request: HttpRequest, account_id: int) -> HttpResponse:
    return _detail_page(request, _visible_or_404(request, account_id))


@_needs(VIEW)
@require_GET
def account_timeline(request: HttpRequest, account_id: int) -> HttpResponse:
    """The rolled-up timeline (loaded by the account page after it is shown: it reads the
    members' activities, which for a large account is the page's slowest part)."""
    account = _visible_or_404(request, account_id)
    entries = selectors.account_timeline(user=request_user(request), account_id=account.pk)
    return render(request, "companies/_timeline.html", {"account": account, "timeline": entries})


@_needs(VIEW)
@require_POST
def member_add(request: HttpRequest, account_id: int) -> HttpResponse:
    """ "Add a lead": link a lead the user may change, found by its e-mail address, explicitly
    (it outranks group calls and e-mail domains, and moves the lead from another account)."""
    user = request_user(request)
    account = _visible_or_404(request, account_id)
    if not panels.may_change(user):
        raise PermissionDenied(_("You may not change leads' accounts."))
    form = AddMemberForm(request.POST)
    if form.is_valid():
        email = form.cleaned_data["email"]
        lead = lead_visible_qs(user=user).filter(email__iexact=email).first()
        if lead is None or lead_editable(user=user, lead_id=lead.pk) is None:
            form.add_error(
                "email", _("No lead you may change has the e-mail %(email)s.") % {"email": email}
            )
        else:
            try:
                services.member_link(
                    lead_id=lead.pk,
                    account_id=account.pk,
                    source=Membership.Source.EXPLICIT,
                    actor=user,
                    reason=_("Added on the account page"),
                )
            except (ValidationError, DomainError) as exc:
                _service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("%(lead)s now belongs to %(account)s.")
                    % {"lead": lead.display_name, "account": account.name},
                )
                return redirect(
                    reverse("companies:detail", args=[account.pk]) + f"#member-{lead.pk}"
                )
    return _detail_page(request, account, 422, add_form=form)


@_needs(SET_ROLE)
@require_POST
def member_role(request: HttpRequest, account_id: int, lead_id: int) -> HttpResponse:
    """A member's buying role, set by a person (the member row's select; htmx swaps the row)."""
    user = request_user(request)
    account = _visible_or_404(request, account_id)
    member = selectors.account_members(user=user, account_id=account.pk).filter(lead_id=lead_id)
    found = member.first()
    if found is None:
        raise Http404(_("That lead is no member of this account you can see."))
    form = MemberRoleForm(request.POST)
    error, status = "", 200
    if form.is_valid():
        try:
            services.member_set_role(lead_id=lead_id, role=form.cleaned_data["role"], actor=user)
        except (ValidationError, DomainError) as exc:
            error, status = " ".join(getattr(exc, "messages", [str(exc)])), 422
    else:
        error, status = " ".join(str(e) for errors in form.errors.values() for e in errors), 422
    htmx = bool(getattr(request, "htmx", False))
    if not htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(
                request,
                _("%(name)s is now “%(role)s”.")
                % {
                    "name": found.lead.display_name,
                    "role": BuyingRole(form.cleaned_data["role"]).label,
                },
            )
        return redirect(reverse("companies:detail", args=[account.pk]) + f"#member-{lead_id}")
    ctx = {
        "account": account,
        "m": member.first(),
        "roles": _role_choices(),
        "can_set_role": True,
        "row_error": error,
        "row_saved": not error,
    }
    return render(request, "companies/_member_row.html", ctx, status=status)


# --- merge --------------------------------------------------------------------------------------


@_needs(MERGE)
@require_http_methods(["GET", "POST"])
def account_merge(request: HttpRequest, account_id: int) -> HttpResponse:
    """Fold a duplicate into this account: find it, see the two side by side, choose whose
    owner stays, confirm. The result is told on the account page."""
    user = request_user(request)
    account = _visible_or_404(request, account_id)
    form = MergeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        duplicate = selectors.account_get_visible(
            user=user, account_id=form.cleaned_data["duplicate"]
        )
        name = duplicate.name if duplicate is not None else ""
        before = selectors.current_members_qs(account_id=account.pk).count()
        try:
            survivor = services.account_merge(
                survivor_id=account.pk,
                duplicate_id=form.cleaned_data["duplicate"],
                keep_owner_of=form.cleaned_data["keep_owner_of"],
                actor=user,
            )
        except (ValidationError, DomainError) as exc:
            _service_errors(form, exc)
        else:
            after = selectors.current_members_qs(account_id=survivor.pk).count()
            messages.success(
                request,
                ngettext(
                    "Merged “%(duplicate)s” into “%(name)s”: %(moved)s member moved, "
                    "%(total)s members now. Its domains and subsidiaries are this account's.",
                    "Merged “%(duplicate)s” into “%(name)s”: %(moved)s members moved, "
                    "%(total)s members now. Its domains and subsidiaries are this account's.",
                    after - before,
                )
                % {
                    "duplicate": name,
                    "name": survivor.name,
                    "moved": after - before,
                    "total": after,
                },
            )
            return redirect("companies:detail", account_id=survivor.pk)
    raw = (
        request.POST.get("duplicate") if request.method == "POST" else request.GET.get("duplicate")
    )
    duplicate = None
    if raw and raw.isdigit() and int(raw) != account.pk:
        duplicate = selectors.account_get_visible(user=user, account_id=int(raw))
    q = request.GET.get("q", account.name)[:200]
    candidates = []
    if duplicate is None:
        found = AccountFilterSet({"q": q}, queryset=selectors.account_list_qs(user=user))
        rows = found.qs.exclude(pk=account.pk) if found.is_valid() else Account.objects.none()
        candidates = list(_with_domains(rows)[:MERGE_CANDIDATES])
    pair = []
    if duplicate is not None:
        counted = _with_domains(
            selectors.account_list_qs(user=user).filter(pk__in=[account.pk, duplicate.pk])
        )
        by_pk = {a.pk: a for a in counted}
        pair = [by_pk[account.pk], by_pk[duplicate.pk]]
    status = (
        422
        if form.errors
        else (404 if raw and duplicate is None and request.method == "GET" else 200)
    )
    ctx = {
        "account": account,
        "duplicate": duplicate,
        "pair": pair,
        "candidates": candidates,
        "q": q,
        "form": form,
        "error_list": named_errors(form),
        "missing": bool(raw) and duplicate is None,
    }
    return render(request, "companies/merge.html", ctx, status=status)


# --- the lead page's panel ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def lead_account(request: HttpRequest, lead_id: int) -> HttpResponse:
    """GET: the panel (htmx; a search for an account to link). POST: link the lead to an account
    or to "no account", as an explicit link (it outranks group calls and e-mail domains)."""
    user = request_user(request)
    if not user.has_perm(VIEW):
        raise PermissionDenied(_("Your role may not see accounts."))
    lead = panels.lead_or_404(user, lead_id)
    htmx = bool(getattr(request, "htmx", False))
    if request.method == "GET":
        q = request.GET.get("account_q", "")
        if not htmx:
            url = reverse("leads:detail", args=[lead.pk])
            return redirect(url + "?" + _q(q) + "#account-panel")
        return render(
            request,
            "companies/_lead_panel.html",
            {"lead": lead, "panel": panels.panel_context(user, lead, q=q)},
        )
    if not panels.may_change(user):
        raise PermissionDenied(_("You may not change this lead's account."))
    result = panels.change(request, user, lead)
    if not htmx:
        if result.error:
            messages.error(request, result.error)
        else:
            messages.success(request, result.message)
        return redirect(reverse("leads:detail", args=[lead.pk]) + "#account-panel")
    ctx = {
        "lead": lead,
        "panel": panels.panel_context(user, lead, error=result.error, notice=result.message),
    }
    return render(request, "companies/_lead_panel.html", ctx, status=422 if result.error else 200)


def _q(text: str) -> str:
    query = QueryDict(mutable=True)
    query["account_q"] = text
    return query.urlencode()

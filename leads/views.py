"""Browser pages for leads: the board, the list, the lead page. Views check input and permission
and call one service; reads come from ``leads.selectors``."""

import json
from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from leadflow.api.auth import request_user
from leadflow.audit import audit_record
from leadflow.csv import csv_response
from leadflow.exceptions import DomainError
from leadflow.models import User
from leadflow.pgplans import serial_plans
from leads import customfields, extensions, money, selectors, services, tags
from leads.forms import (
    CustomValuesForm,
    DealForm,
    InteractionForm,
    LeadCreateForm,
    MoveForm,
    NoteForm,
    SavedViewForm,
    TaskForm,
    WinForm,
    add_custom_fields,
    custom_errors,
    custom_field_name,
    custom_values,
)
from leads.interactions import interaction_label
from leads.lifecycle import (
    EXIT_AFTER_ACCEPTANCE,
    INBOX_MESSAGE,
    REASON_REQUIRED,
    ActorKind,
    Stage,
    allowed_targets,
    ensure_allowed,
    inbox_decides,
)
from leads.models import ExitReason, Lead, StageChange, Task
from leads.permissions import Perm
from leads.search import parse_search


def _editable_or_403(user: User, lead_id: int) -> Lead:
    """The lead if ``user`` may change it; 404 if they cannot see it at all, else 403."""
    lead = selectors.lead_editable(user=user, lead_id=lead_id)
    if lead is None:
        _visible_or_404(user, lead_id)
        raise PermissionDenied(_("You may not change this lead."))
    return lead


def _visible_or_404(user: User, lead_id: int) -> Lead:
    lead = (
        selectors.lead_visible_qs(user=user).select_related("owner", "team").filter(pk=lead_id)
    ).first()
    if lead is None:
        raise Http404(_("There is no such lead you can see."))
    return lead


def _moves_for(user: User) -> dict[str, list[str]]:
    kind = services.actor_kind_for(user) if user.has_perm("leads.move_lead_stage") else None
    if kind is None:
        return {}
    return {
        stage.value: [
            to.value
            for to in allowed_targets(stage, ActorKind(kind))
            if not inbox_decides(kind, stage, to)
        ]
        for stage in Stage
    }


def _card_moves(user: User) -> dict[str, list[tuple[str, str]]]:
    """For each stage, the (stage, label) moves a card's "Move to…" list offers this user: the
    same table as the drag and the lead page's form."""
    return {
        stage: [(to, str(Stage(to).label)) for to in targets]
        for stage, targets in _moves_for(user).items()
    }


def _board_context(request: HttpRequest, user: User) -> dict[str, Any]:
    kind = services.actor_kind_for(user)
    filters = selectors.list_filters(request.GET)
    filterset = selectors.lead_filterset(user=user, filters=filters)
    valid = filterset.is_valid()
    moves = _moves_for(user)
    leads = filterset.qs.select_related("owner") if valid else Lead.objects.none()
    # Counts come in a second request (board_counts_view): the cards never wait for them.
    columns = selectors.board_first_pages(leads=leads)
    return {
        "filterset": filterset,
        "filter_errors": {} if valid else filterset.form.errors,
        "filters": filters,
        "filter_query": filters.urlencode(),
        "columns": columns,
        "card_moves": _card_moves(user),
        "owners": selectors.assignable_users(),
        "filter_tags": tags.tag_names(),
        "grades": ["A", "B", "C", "D"],
        "saved_views": selectors.saved_views(user=user),
        "saved_view_form": SavedViewForm(initial={"query": filters.urlencode()}),
        # the board never waits for a count: "all matching" is offered in the table view
        **extensions.selection_bar(user=user, params=filters, matching=None),
        "exit_reasons": ExitReason.objects.filter(active=True),
        "board_config": {
            "moves": moves,
            "reasonRequired": sorted(s.value for s in REASON_REQUIRED),
            # the exits this user may make that need an exit reason (none: no reasons offered)
            "exitNeeded": sorted(
                f"{a.value}>{b.value}"
                for a, b in EXIT_AFTER_ACCEPTANCE
                if b.value in moves.get(a.value, [])
            ),
            "labels": {s.value: s.label for s in Stage},
            "excluded": {
                f"{a.value}>{b.value}": INBOX_MESSAGE
                for a in Stage
                for b in Stage
                if a != b and inbox_decides(kind, a, b)
            },
        },
    }


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    ctx = _board_context(request, request_user(request))
    partial = bool(getattr(request, "htmx", False)) and not request.htmx.boosted  # type: ignore[attr-defined]
    return render(request, "leads/_board.html" if partial else "leads/board.html", ctx)


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_GET
def board_counts_view(request: HttpRequest) -> HttpResponse:
    """Column counts for the board header (htmx out-of-band swaps), capped per column."""
    user = request_user(request)
    filters = selectors.list_filters(request.GET)
    filterset = selectors.lead_filterset(user=user, filters=filters)
    leads = filterset.qs if filterset.is_valid() else Lead.objects.none()
    narrowed = bool(filters) or not user.has_perm("leads.view_all_leads")
    counts = selectors.board_counts(leads=leads, narrowed=narrowed)
    capped = any(n > selectors.BOARD_COUNT_CAP for n in counts.values())
    return render(
        request,
        "leads/_board_counts.html",
        {
            "counts": [(stage, counts[stage]) for stage in counts],
            "cap": selectors.BOARD_COUNT_CAP,
            "cap_label": number_format(selectors.BOARD_COUNT_CAP, force_grouping=True),
            "total": sum(min(n, selectors.BOARD_COUNT_CAP) for n in counts.values()),
            "capped": capped,
            "filtered": bool(filters),
        },
    )


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_GET
def board_column_page(request: HttpRequest, stage: str) -> HttpResponse:
    """The next page of one column (htmx, fetched when the last card scrolls into view)."""
    try:
        column_stage = Stage(stage)
    except ValueError:
        raise Http404(_("No such stage.")) from None
    user = request_user(request)
    filters = selectors.list_filters(request.GET)
    filterset = selectors.lead_filterset(user=user, filters=filters)
    leads = filterset.qs.select_related("owner") if filterset.is_valid() else Lead.objects.none()
    page = selectors.board_column(
        leads=leads, stage=column_stage, after=request.GET.get("after", "")
    )
    return render(
        request,
        "leads/_column_cards.html",
        {"column": page, "filter_query": filters.urlencode(), "card_moves": _card_moves(user)},
    )


def _error_json(code: str, message: str, status: int, field: str | None = None) -> JsonResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return JsonResponse({"error": error}, status=status)


def _validation_message(exc: ValidationError) -> tuple[str, str | None]:
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.error_dict.items()))
        return " ".join(str(m) for e in errors for m in e.messages), field
    return " ".join(exc.messages), None


@login_required
@require_POST
def lead_move(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Move a lead: a board drop (JSON for fetch()), a board card's "Move to…" (htmx: the card
    moves column out of band; a refusal is a 409/422 flash and the card stays), or the lead
    page's form (redirect). All go through the same service and staleness check."""
    user = request_user(request)
    wants_json = "application/json" in request.headers.get("Accept", "")
    lead = _visible_or_404(user, lead_id)
    form = MoveForm(request.POST)

    htmx = bool(request.headers.get("HX-Request")) and not wants_json

    def fail(code: str, message: str, status: int, field: str | None = None) -> HttpResponse:
        if wants_json:
            return _error_json(code, message, status, field)
        if htmx:  # a board card's "Move to…": the card stays, the message goes to the flash area
            response = render(
                request, "leads/_move_result.html", {"message": message, "tone": "error"}
            )
            response.status_code = 409 if status == 409 else 422  # (htmx swaps these two)
            response["HX-Reswap"] = "none"
            return response
        messages.error(request, message)
        return redirect("leads:detail", lead_id=lead.pk)

    if not user.has_perm("leads.move_lead_stage"):
        return fail("permission_denied", _("You may not move leads."), 403)
    kind = services.actor_kind_for(user)
    to = request.POST.get("to", "")
    shown = request.POST.get("expected_stage") or lead.stage
    if to in Stage.values and kind is not None and shown == lead.stage:
        # the move itself first: a request the page would never send (a forged or stale form)
        # hears what is illegal and who may do it, not which hidden field it lacked
        try:
            ensure_allowed(Stage(lead.stage), Stage(to), kind, reason="-")
        except DomainError as exc:
            return fail(exc.code, exc.message, exc.status, exc.field)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        label = form.fields[field].label if field in form.fields else None
        text = " ".join(str(e) for e in errors)
        # Translators: a form field's label, then what is wrong with its value
        shown = _("%(label)s: %(error)s") % {"label": label, "error": text} if label else text
        return fail("invalid", shown, 400, field)
    data = form.cleaned_data
    # a form without the stage it showed (not one of ours) checks against the stage now
    data["expected_stage"] = data["expected_stage"] or lead.stage
    if inbox_decides(kind, Stage(data["expected_stage"]), Stage(data["to"])):
        return fail(
            "use_inbox", _("Accept or reject MQLs from the SAL inbox, not by moving them."), 409
        )
    try:
        result = services.lead_move_checked(
            lead_id=lead.pk,
            to=data["to"],
            actor=user,
            source=StageChange.Source.UI,
            reason=data["reason"] or "",
            reason_code=data["reason_code"] or "",
            expected_stage=data["expected_stage"],
            expected_changed_at=data["expected_changed_at"],
        )
    except DomainError as exc:
        return fail(exc.code, exc.message, exc.status, exc.field)
    except ValidationError as exc:
        message, bad = _validation_message(exc)
        return fail("invalid", message, 400, bad)
    moved = result.lead
    text = _("%(name)s moved to %(stage)s.") % {
        "name": moved.display_name,
        "stage": Stage(moved.stage).label,
    }
    if not wants_json and not htmx:
        messages.success(request, text)
        return redirect("leads:detail", lead_id=moved.pk)
    moved.owner = lead.owner
    badge_lead = selectors.board_column(
        leads=Lead.objects.filter(pk=moved.pk).select_related("owner"), stage=Stage(moved.stage)
    ).leads
    card_context = {"lead": badge_lead[0] if badge_lead else moved, "card_moves": _card_moves(user)}
    if htmx:  # the card leaves its column (empty main swap) and opens the new one (out of band)
        response = render(
            request,
            "leads/_move_result.html",
            {**card_context, "message": text, "tone": "success", "to": moved.stage},
        )
        response["HX-Trigger-After-Settle"] = json.dumps(
            {"leadMoved": {"from": data["expected_stage"], "to": moved.stage, "card": moved.pk}}
        )
        return response
    card = render(request, "leads/_card.html", card_context).content.decode()
    return JsonResponse({"message": text, "stage": moved.stage, "html": card})


def _interaction_form(data: Any = None) -> InteractionForm:
    now = timezone.localtime().replace(second=0, microsecond=0)
    return InteractionForm(data, prefix="log", initial={"occurred_at": now})


def _detail_context(request: HttpRequest, user: User, lead: Lead, **extra: Any) -> dict[str, Any]:
    moves = _moves_for(user).get(lead.stage, [])
    return {
        "lead": lead,
        "lead_panels": extensions.lead_panels(request=request, lead=lead),
        "history": selectors.stage_history(lead=lead),
        "timeline": selectors.lead_timeline(lead=lead),
        "tasks": selectors.lead_tasks(lead=lead),
        "note_form": NoteForm(),
        "task_form": TaskForm(),
        "interaction_form": _interaction_form(),
        "can_log": user.has_perm(Perm.CHANGE_LEAD),  # the lead is visible: see lead_editable
        **_tags_context(lead),
        **_custom_context(user, lead),
        **_deal_context(user, lead),
        "moves": [(s, Stage(s).label) for s in moves],
        "reason_required": [s.value for s in REASON_REQUIRED],
        # offered where the lead could leave after acceptance (SAL/SQL to Nurture/Disqualified)
        "exit_reasons": (
            ExitReason.objects.filter(active=True)
            if any((Stage(lead.stage), Stage(s)) in EXIT_AFTER_ACCEPTANCE for s in moves)
            else []
        ),
        **extra,
    }


def _tags_context(lead: Lead, error: str = "", typed: str = "") -> dict[str, Any]:
    return {
        "lead_tags": list(lead.tags.all()),
        "all_tags": tags.tag_names(),
        "tag_error": error,
        "tag_typed": typed,
    }


def _custom_context(
    user: User, lead: Lead, form: CustomValuesForm | None = None, saved: bool = False
) -> dict[str, Any]:
    fields = customfields.lead_fields()
    shown = customfields.visible_fields(user, fields)
    values = lead.custom or {}
    editable = customfields.editable_fields(user, fields) if user.has_perm(Perm.CHANGE_LEAD) else []
    if form is None and editable:
        form = CustomValuesForm(fields=editable, values=values, prefix="custom")
    return {
        "custom_rows": [(f, customfields.display(f, values.get(f.key))) for f in shown],
        "custom_form": form,
        "custom_saved": saved,
    }


@login_required
@require_POST
def lead_custom_change(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Save the lead page's "Details" (custom fields); htmx swaps the section."""
    user = request_user(request)
    lead = _editable_or_403(user, lead_id)
    fields = customfields.editable_fields(user)
    if not fields:
        raise PermissionDenied(_("Your role may not change any of this lead's details."))
    form = CustomValuesForm(request.POST, fields=fields, values=lead.custom or {}, prefix="custom")
    status, saved = 422, False
    if form.is_valid():
        changed = [f for f in fields if custom_field_name(f.key) in form.changed_data]
        try:
            if changed:
                lead = services.lead_update(
                    lead_id=lead.pk, data={"custom": custom_values(form, changed)}, actor=user
                )
        except ValidationError as exc:
            custom_errors(form, exc)
        else:
            status, saved = 200, True
            if not getattr(request, "htmx", False):
                messages.success(request, _("Details saved."))
    shown = _custom_context(user, lead, None if saved else form, saved)
    return _section(request, lead, "leads/_custom_fields.html", status, **shown)


# where the lead page offers the deal's money: once sales has the lead, and at the win
DEAL_STAGES = frozenset({Stage.SAL, Stage.SQL, Stage.CUSTOMER})


@login_required
@require_POST
def lead_deal_change(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Save the lead page's "Deal" (expected or won value, currency); htmx swaps the section."""
    user = request_user(request)
    lead = _editable_or_403(user, lead_id)
    form = _deal_form(lead, request.POST)
    status, saved = 422, False
    if form.is_valid():
        try:
            lead = services.lead_deal_set(
                lead_id=lead.pk, actor=user, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            status, saved = 200, True
            if not getattr(request, "htmx", False):
                messages.success(request, _("Deal saved."))
    ctx = _deal_context(user, lead, None if saved else form, saved)
    return _section(request, lead, "leads/_deal.html", status, **ctx)


@login_required
@require_POST
def lead_win_add(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Record a customer's repeat win from the lead page; htmx swaps the Deal section."""
    user = request_user(request)
    lead = _editable_or_403(user, lead_id)
    form = WinForm(request.POST, currencies=money.deal_currencies(), prefix="win")
    status, saved = 422, False
    if form.is_valid():
        data = dict(form.cleaned_data)
        day = data.pop("won_at")
        won_at = None
        if day is not None:  # a day: its noon in the site's zone (now, if that is today)
            won_at = min(timezone.now(), timezone.make_aware(datetime.combine(day, time(12))))
        try:
            services.lead_win_add(
                lead_id=lead.pk, actor=user, request=request, won_at=won_at, **data
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            status, saved = 200, True
            if not getattr(request, "htmx", False):
                messages.success(request, _("Win recorded."))
    ctx = _deal_context(user, lead, win_form=None if saved else form, saved=saved)
    return _section(request, lead, "leads/_deal.html", status, **ctx)


def _deal_form(lead: Lead, data: QueryDict | None = None) -> DealForm:
    initial = {
        "expected_value": lead.expected_value,
        "deal_value": lead.deal_value,
        "currency": lead.currency or money.reporting_currency(),
    }
    return DealForm(
        data,
        initial=initial,
        currencies=money.deal_currencies(),
        won=lead.stage == Stage.CUSTOMER,
    )


def _deal_context(
    user: User,
    lead: Lead,
    form: DealForm | None = None,
    saved: bool = False,
    win_form: WinForm | None = None,
) -> dict[str, Any]:
    open_deal = lead.stage in DEAL_STAGES
    shown = open_deal or lead.expected_value is not None or lead.deal_value is not None
    editable = open_deal and user.has_perm(Perm.CHANGE_LEAD)  # visible: see lead_editable
    won = lead.stage == Stage.CUSTOMER
    wins = list(lead.wins.order_by("won_at", "id")) if won else []
    if won and editable and win_form is None:
        win_form = WinForm(currencies=money.deal_currencies(), prefix="win")
    return {
        "deal_shown": shown,
        "deal_currency": lead.currency or money.reporting_currency(),
        "deal_form": (form or _deal_form(lead)) if editable else None,
        "deal_saved": saved,
        "wins": wins,
        "lifetime_value": money.lifetime_value(lead, wins) if won else None,
        "reporting_currency": money.reporting_currency(),
        "win_form": win_form if won and editable else None,
    }


@login_required
@require_POST
def lead_tags_change(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Add (``tag``) or remove (``remove``) a tag on the lead page; htmx swaps the section."""
    user = request_user(request)
    lead = _editable_or_403(user, lead_id)
    removing = "remove" in request.POST
    typed = request.POST.get("remove" if removing else "tag", "")
    error, status = "", 200
    try:
        if removing:
            changed = tags.lead_untag(lead_id=lead.pk, name=typed, actor=user, request=request)
            message = (
                _("Removed the tag “%(tag)s”.") % {"tag": typed}
                if changed
                else _("That tag was not on it.")
            )
        else:
            changed = tags.lead_tag(lead_id=lead.pk, name=typed, actor=user, request=request)
            message = _("Tag added.") if changed else _("It already has that tag.")
    except ValidationError as exc:
        error, status = " ".join(exc.messages), 422
    else:
        typed = ""
        if not getattr(request, "htmx", False):
            messages.success(request, message)
    return _section(
        request, lead, "leads/_tags.html", status, **_tags_context(lead, error, typed), can_log=True
    )


@login_required
@require_GET
def lead_detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    user = request_user(request)
    lead = _visible_or_404(user, lead_id)
    return render(request, "leads/lead_detail.html", _detail_context(request, user, lead))


@login_required
@require_POST
def interaction_create(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Log a call, meeting or e-mail (the timeline's form; htmx swaps the timeline)."""
    user = request_user(request)
    lead = _editable_or_403(user, lead_id)
    form = _interaction_form(request.POST)
    status = 422
    if form.is_valid():
        data = form.cleaned_data
        try:
            activity = services.interaction_log(
                lead_id=lead.pk,
                actor=user,
                kind=data["kind"],
                outcome=data["outcome"],
                occurred_at=data["occurred_at"],
                duration_minutes=data["duration_minutes"],
                notes=data["notes"],
                request=request,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            status = exc.status
        else:
            status = 200
            form = _interaction_form()
            label = interaction_label(activity.kind, activity.properties)
            if not getattr(request, "htmx", False):
                messages.success(request, _("Logged: %(interaction)s.") % {"interaction": label})
                return redirect("leads:detail", lead_id=lead.pk)
    if not getattr(request, "htmx", False):  # no JavaScript: the whole page, errors in place
        ctx = _detail_context(request, user, lead, interaction_form=form)
        return render(request, "leads/lead_detail.html", ctx, status=status)
    return render(
        request,
        "leads/_timeline.html",
        {
            "lead": lead,
            "note_form": NoteForm(),
            "interaction_form": form,
            "can_log": True,
            "timeline": selectors.lead_timeline(lead=lead),
            "logged": status == 200,
        },
        status=status,
    )


@login_required
@permission_required("leads.add_lead", raise_exception=True)
def lead_new(request: HttpRequest) -> HttpResponse:
    """ "New lead": a Suspect made by the API's service (``lead_upsert``), except that a known
    e-mail is refused with a link to that lead instead of updating it."""
    user = request_user(request)
    form = LeadCreateForm(request.POST or None)
    custom = customfields.editable_fields(user)
    add_custom_fields(form, custom)
    existing: Lead | None = None
    if request.method == "POST" and form.is_valid():
        data = {
            k: v
            for k, v in form.cleaned_data.items()
            if v not in ("", None) and k in LeadCreateForm.base_fields
        }
        data["custom"] = custom_values(form, custom)
        try:
            result = services.lead_upsert(
                data=data,
                actor=user,
                source=StageChange.Source.UI,
                update_existing=False,
                require_custom=True,
            )
        except services.LeadExistsError as exc:
            known = exc.extra["lead_id"]
            if isinstance(known, int):
                existing = selectors.lead_get_visible(user=user, lead_id=known)
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except ValidationError as exc:
            custom_errors(form, exc)
        else:
            messages.success(request, _("Created %(name)s.") % {"name": result.lead.display_name})
            return redirect("leads:detail", lead_id=result.lead.pk)
    status = 422 if form.errors else 200
    ctx = {"form": form, "existing": existing}
    return render(request, "leads/lead_new.html", ctx, status=status)


def _form_errors(form: Any, exc: ValidationError) -> None:
    """A service's ValidationError onto the form: per field where the form has it."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _section(
    request: HttpRequest, lead: Lead, template: str, status: int = 200, **ctx: Any
) -> HttpResponse:
    if not getattr(request, "htmx", False):
        return redirect("leads:detail", lead_id=lead.pk)
    return render(request, template, {"lead": lead, **ctx}, status=status)


@login_required
@permission_required("leads.add_note", raise_exception=True)
@require_POST
def note_create(request: HttpRequest, lead_id: int) -> HttpResponse:
    user = request_user(request)
    lead = _visible_or_404(user, lead_id)
    form = NoteForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            services.note_add(lead_id=lead.pk, author=user, body=form.cleaned_data["body"])
            form = NoteForm()
        except ValidationError as exc:
            form.add_error(None, exc)
            status = 422
    else:
        status = 422
    if status == 200 and not getattr(request, "htmx", False):
        messages.success(request, _("Note added."))
    return _section(
        request,
        lead,
        "leads/_timeline.html",
        status,
        note_form=form,
        interaction_form=_interaction_form(),
        can_log=user.has_perm(Perm.CHANGE_LEAD),
        timeline=selectors.lead_timeline(lead=lead),
    )


@login_required
@permission_required("leads.add_task", raise_exception=True)
@require_POST
def task_create(request: HttpRequest, lead_id: int) -> HttpResponse:
    user = request_user(request)
    lead = _visible_or_404(user, lead_id)
    form = TaskForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            services.task_add(
                lead_id=lead.pk,
                created_by=user,
                title=form.cleaned_data["title"],
                due_at=form.cleaned_data["due_at"],
            )
            form = TaskForm()
        except ValidationError as exc:
            form.add_error(None, exc)
            status = 422
    else:
        status = 422
    return _section(
        request,
        lead,
        "leads/_tasks.html",
        status,
        task_form=form,
        tasks=selectors.lead_tasks(lead=lead),
    )


@login_required
@permission_required("leads.change_task", raise_exception=True)
@require_POST
def task_toggle(request: HttpRequest, lead_id: int, task_id: int) -> HttpResponse:
    user = request_user(request)
    lead = _visible_or_404(user, lead_id)
    try:
        services.task_set_done(
            task_id=task_id, lead_id=lead.pk, done=request.POST.get("done") == "1", actor=user
        )
    except DomainError as exc:
        raise Http404(exc.message) from None
    return _section(
        request,
        lead,
        "leads/_tasks.html",
        task_form=TaskForm(),
        tasks=selectors.lead_tasks(lead=lead),
    )


# --- "My tasks": the user's open tasks across leads (a manager: their team's) ------------------


@login_required
@permission_required("leads.view_task", raise_exception=True)
@require_GET
def my_tasks(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    members = selectors.team_members(user=user)
    team_view = members is not None and request.GET.get("view") == "team"
    team: list[User] | None = None
    rep = request.GET.get("rep", "") if team_view else ""
    rep_error = ""
    if team_view and members is not None:
        team = members
        if rep:
            team = [p for p in members if str(p.pk) == rep]
            if not team:
                rep_error = _("That person is not in your teams; showing no one's tasks.")
    tasks = selectors.tasks_visible_qs(user=user, team=team)
    groups = selectors.open_tasks_grouped(tasks=tasks, now=timezone.now())
    ctx = {
        "groups": [
            ("overdue", _("Overdue"), groups.overdue),
            ("today", _("Today"), groups.today),
            ("upcoming", _("Upcoming"), groups.upcoming),
        ],
        "truncated": groups.truncated,
        "limit": selectors.MY_TASKS_LIMIT,
        "members": members,
        "team_view": team_view,
        "rep": rep,
        "rep_error": rep_error,
        "time_zone": timezone.get_current_timezone_name(),
    }
    return render(request, "leads/my_tasks.html", ctx, status=400 if rep_error else 200)


@login_required
@permission_required("leads.change_task", raise_exception=True)
@require_POST
def my_task_complete(request: HttpRequest, task_id: int) -> HttpResponse:
    """Tick a task off from "My tasks" (htmx swaps its row). Completing twice keeps the first."""
    user = request_user(request)
    allowed = selectors.tasks_visible_qs(user=user).filter(pk=task_id)
    members = selectors.team_members(user=user)
    if members is not None:
        allowed = allowed | selectors.tasks_visible_qs(user=user, team=members).filter(pk=task_id)
    if not allowed.exists():
        raise Http404(_("There is no such task of yours."))
    task, completed = services.task_complete(task_id=task_id, actor=user)
    if not getattr(request, "htmx", False):
        if completed:
            messages.success(request, _("Completed “%(task)s”.") % {"task": task.title})
        else:
            messages.info(request, _("“%(task)s” was already completed.") % {"task": task.title})
        return redirect("leads:my_tasks")
    return render(
        request,
        "leads/_my_task_done.html",
        {"task": Task.objects.select_related("lead").get(pk=task.pk), "completed": completed},
    )


# --- list view: sortable table, keyset pages, bulk assign, CSV --------------------------------

SORTS: dict[str, str | Promise] = {  # the list's sortable columns: their headings
    "score": gettext_lazy("Score"),
    "created_at": gettext_lazy("Created"),
    "stage_changed_at": gettext_lazy("In stage since"),
}
# Newest first walks the created_at index; score order walks the rank rows' indexes (LeadRank:
# the leads table has no score index), per stage when the list is filtered to stages.
DEFAULT_SORT = "-created_at"
LIST_PAGE_SIZE = 50


def _sort(params: QueryDict) -> tuple[str, bool]:
    raw = params.get("sort") or DEFAULT_SORT
    field = raw.lstrip("-")
    if field not in SORTS:
        return DEFAULT_SORT.lstrip("-"), True
    return field, raw.startswith("-")


def _keyset(
    qs: QuerySet[Lead], field: str, desc: bool, after: str, stages: Sequence[str] = ()
) -> QuerySet[Lead]:
    scored, tie = field == "score", "id"
    if scored:
        # the rank rows' copy of the score and id, which is indexed. The stages again on the rank
        # rows: the planner can walk their (stage, score) index, and the join is an inner one
        # (ordered by an outer join's columns, it read and sorted every lead: 2.6 s at 1M)
        field, tie = "board_rank__score", "board_rank__lead"
        chosen = [stage for stage in stages if stage in Stage.values]
        qs = qs.filter(board_rank__stage__in=chosen or Stage.values)
    qs = qs.order_by(f"-{field}", f"-{tie}") if desc else qs.order_by(field, tie)
    value, sep, raw_id = after.rpartition("|")
    if not sep or not raw_id.isdigit():
        return qs
    parsed: Any = int(value) if scored and value.lstrip("-").isdigit() else None
    if not scored:
        parsed = parse_datetime(value)
    if parsed is None:
        return qs
    return qs.filter(selectors.keyset_after(field, tie, parsed, raw_id, descending=desc))


def _cursor_of(lead: Lead, field: str) -> str:
    value = getattr(lead, field)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return f"{text}|{lead.pk}"


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_GET
def lead_search_page(request: HttpRequest) -> HttpResponse:
    """The header search box's results: the best matches the user may see, each with its stage,
    owner and company. A query that cannot be searched is explained, with status 400."""
    text = request.GET.get("q", "")
    ctx: dict[str, Any] = {"q": text, "results": [], "error": "", "more": False}
    try:
        terms = parse_search(text)
    except ValidationError as exc:
        ctx["error"] = " ".join(exc.messages)
        return render(request, "leads/search.html", ctx, status=400)
    found = selectors.lead_search(user=request_user(request), terms=terms)
    ctx.update(results=found.leads, more=found.more, ranked=found.ranked)
    ctx["list_url"] = reverse("leads:list") + "?" + _with(QueryDict(mutable=True), q=terms.text)
    return render(request, "leads/search.html", ctx)


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_GET
def lead_table(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    filters = selectors.list_filters(request.GET)
    filterset = selectors.lead_filterset(user=user, filters=filters)
    valid = filterset.is_valid()
    field, desc = _sort(request.GET)
    matching = selectors.lead_matching(user=user, params=request.GET)
    base = (
        matching.select_related("owner").prefetch_related("tags")
        if matching is not None
        else Lead.objects.none()
    )
    page = _keyset(base, field, desc, request.GET.get("after", ""), request.GET.getlist("stage"))
    with serial_plans():
        rows = list(page[: LIST_PAGE_SIZE + 1])
    more = len(rows) > LIST_PAGE_SIZE
    rows = rows[:LIST_PAGE_SIZE]
    query = filters.copy()
    for stage in request.GET.getlist("stage"):
        query.appendlist("stage", stage)
    sort_value = ("-" if desc else "") + field
    sort_links = {
        name: {
            "url": "?" + _with(query, sort=_toggle(field, desc, name)),
            "active": name == field,
            "desc": desc,
            "label": label,
        }
        for name, label in SORTS.items()
    }
    ctx = {
        "rows": rows,
        "filterset": filterset,
        "filter_errors": {} if valid else filterset.form.errors,
        "filters": filters,
        "owners": selectors.assignable_users(),
        "filter_tags": tags.tag_names(),
        "grades": ["A", "B", "C", "D"],
        "stages": [(s.value, s.label, s.value in request.GET.getlist("stage")) for s in Stage],
        "sort_links": sort_links,
        "sort": sort_value,
        "next_url": "?" + _with(query, sort=sort_value, after=_cursor_of(rows[-1], field))
        if more and rows
        else "",
        "first_url": "?" + _with(query, sort=sort_value) if request.GET.get("after") else "",
        "export_url": reverse("leads:export") + "?" + _with(query, sort=sort_value),
        "saved_views": selectors.saved_views(user=user),
        "saved_view_form": SavedViewForm(initial={"query": filters.urlencode()}),
        **extensions.selection_bar(user=user, params=request.GET, matching=matching),
    }
    return render(request, "leads/list.html", ctx)


def _toggle(field: str, desc: bool, name: str) -> str:
    if name == field:
        return name if desc else f"-{name}"
    return f"-{name}"


def _with(query: QueryDict, **extra: str) -> str:
    q = query.copy()
    for key, value in extra.items():
        q[key] = value
    return q.urlencode()


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_GET
def lead_export(request: HttpRequest) -> HttpResponseBase:
    """CSV of the filtered, sorted list (streamed; formulas neutralised by ``csv_response``)."""
    user = request_user(request)
    filters = selectors.list_filters(request.GET)
    matching = selectors.lead_matching(user=user, params=request.GET)
    if matching is None:
        messages.error(request, _("Fix the filters before exporting."))
        return redirect(reverse("leads:list") + "?" + filters.urlencode())
    field, desc = _sort(request.GET)
    qs = _keyset(matching.select_related("owner"), field, desc, "", request.GET.getlist("stage"))
    with transaction.atomic():
        audit_record(
            action="lead.export_csv",
            actor=user,
            target_type="lead",
            details={"filters": filters.dict(), "sort": ("-" if desc else "") + field},
            request=request,
        )
    custom = customfields.visible_fields(user)
    rows = selectors.lead_export_rows(leads=qs, custom=custom)
    return csv_response("leads.csv", selectors.lead_export_header(custom), rows)


# --- saved views ---------------------------------------------------------------------------------


def _back(request: HttpRequest, query: str = "") -> HttpResponse:
    target = request.POST.get("next", "")
    page = "leads:list" if target == "list" else "leads:board"
    return redirect(reverse(page) + (f"?{query}" if query else ""))


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    query = request.POST.get("query", "")
    if not form.is_valid():
        messages.error(request, _("Give the view a name (up to 80 characters)."))
        return _back(request, query)
    name = form.cleaned_data["view_name"].strip()
    try:
        view = services.saved_view_save(
            owner=request_user(request),
            name=name,
            query=query,
            replace=request.POST.get("replace") == "1",
        )
    except services.SavedViewExistsError as exc:
        # ask before overwriting: the same POST again, with replace=1, or back unchanged
        context = {
            "name": name,
            "query": query,
            "next": request.POST.get("next", ""),
            "message": exc.message,
            "back": _back(request, query)["Location"],
        }
        return render(request, "leads/saved_view_replace.html", context, status=409)
    except ValidationError as exc:
        messages.error(request, _validation_message(exc)[0])
        return _back(request, query)
    messages.success(request, _("Saved the view “%(name)s”.") % {"name": view.name})
    return _back(request, view.query)


@login_required
@require_POST
def saved_view_remove(request: HttpRequest, view_id: int) -> HttpResponse:
    services.saved_view_delete(owner=request_user(request), view_id=view_id)
    messages.success(request, _("View deleted."))
    return _back(request)

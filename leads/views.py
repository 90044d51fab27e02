"""Browser pages for leads: the board, the list, the lead page. Views check input and permission
and call one service; reads come from ``leads.selectors``."""

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from leadflow.api.auth import request_user
from leadflow.audit import audit_record
from leadflow.csv import csv_response
from leadflow.exceptions import DomainError
from leadflow.models import User
from leads import selectors, services
from leads.forms import LeadCreateForm, MoveForm, NoteForm, SavedViewForm, TaskForm
from leads.lifecycle import REASON_REQUIRED, ActorKind, Stage, allowed_targets, ensure_allowed
from leads.models import Lead, StageChange

# Filter parameters the board and list keep in their links (everything LeadFilterSet reads).
FILTER_KEYS = (
    "q",
    "source",
    "owner",
    "grade",
    "score_min",
    "score_max",
    "industry",
    "country",
    "created_after",
    "created_before",
    "changed_after",
    "changed_before",
)
# Moves the board leaves to the SAL inbox: accepting is a handover decision, not a drag.
BOARD_EXCLUDED: frozenset[tuple[Stage, Stage]] = frozenset({(Stage.MQL, Stage.SAL)})


def _filters(params: QueryDict) -> QueryDict:
    """Only the filter parameters, with date inputs ("2026-11-01") read as midnight."""
    clean = QueryDict(mutable=True)
    for key in FILTER_KEYS:
        value = params.get(key, "").strip()
        if not value:
            continue
        if key.endswith(("_after", "_before")) and len(value) == 10:
            value += "T00:00"
        clean[key] = value
    return clean


def _visible_or_404(user: User, lead_id: int) -> Lead:
    lead = (
        selectors.lead_visible_qs(user=user).select_related("owner", "team").filter(pk=lead_id)
    ).first()
    if lead is None:
        raise Http404("There is no such lead you can see.")
    return lead


def _inbox_decides(kind: ActorKind | None, from_stage: Stage, to: Stage) -> bool:
    """Moves that are handover decisions: accepting any MQL, and a rep's rejecting one."""
    return (from_stage, to) in BOARD_EXCLUDED or (
        kind == ActorKind.SALES_REP and from_stage == Stage.MQL
    )


def _moves_for(user: User) -> dict[str, list[str]]:
    kind = services.actor_kind_for(user) if user.has_perm("leads.move_lead_stage") else None
    if kind is None:
        return {}
    return {
        stage.value: [
            to.value
            for to in allowed_targets(stage, ActorKind(kind))
            if not _inbox_decides(kind, stage, to)
        ]
        for stage in Stage
    }


def _board_context(request: HttpRequest, user: User) -> dict[str, Any]:
    kind = services.actor_kind_for(user)
    filters = _filters(request.GET)
    filterset = selectors.lead_filterset(user=user, filters=filters)
    valid = filterset.is_valid()
    leads = filterset.qs.select_related("owner") if valid else Lead.objects.none()
    # Counts come in a second request (board_counts_view): the cards never wait for them.
    columns = selectors.board_first_pages(leads=leads)
    return {
        "filterset": filterset,
        "filter_errors": {} if valid else filterset.form.errors,
        "filters": filters,
        "filter_query": filters.urlencode(),
        "columns": columns,
        "owners": selectors.assignable_users(),
        "grades": ["A", "B", "C", "D"],
        "saved_views": selectors.saved_views(user=user),
        "saved_view_form": SavedViewForm(initial={"query": filters.urlencode()}),
        "board_config": {
            "moves": _moves_for(user),
            "reasonRequired": sorted(s.value for s in REASON_REQUIRED),
            "labels": {s.value: s.label for s in Stage},
            "excluded": {
                f"{a.value}>{b.value}": "Accept or reject MQLs in the SAL inbox."
                for a in Stage
                for b in Stage
                if a != b and _inbox_decides(kind, a, b)
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
    filters = _filters(request.GET)
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
            "cap_label": f"{selectors.BOARD_COUNT_CAP:,}",
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
        raise Http404("No such stage.") from None
    user = request_user(request)
    filters = _filters(request.GET)
    filterset = selectors.lead_filterset(user=user, filters=filters)
    leads = filterset.qs.select_related("owner") if filterset.is_valid() else Lead.objects.none()
    page = selectors.board_column(
        leads=leads, stage=column_stage, after=request.GET.get("after", "")
    )
    return render(
        request,
        "leads/_column_cards.html",
        {"column": page, "filter_query": filters.urlencode()},
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
    """Move a lead (board drop or the lead page's form). JSON for fetch(), redirect otherwise."""
    user = request_user(request)
    wants_json = "application/json" in request.headers.get("Accept", "")
    lead = _visible_or_404(user, lead_id)
    form = MoveForm(request.POST)

    def fail(code: str, message: str, status: int, field: str | None = None) -> HttpResponse:
        if wants_json:
            return _error_json(code, message, status, field)
        messages.error(request, message)
        return redirect("leads:detail", lead_id=lead.pk)

    if not user.has_perm("leads.move_lead_stage"):
        return fail("permission_denied", "You may not move leads.", 403)
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
        return fail("invalid", f"{label}: {text}" if label else text, 400, field)
    data = form.cleaned_data
    # a form without the stage it showed (not one of ours) checks against the stage now
    data["expected_stage"] = data["expected_stage"] or lead.stage
    if _inbox_decides(kind, Stage(data["expected_stage"]), Stage(data["to"])):
        return fail(
            "use_inbox", "Accept or reject MQLs from the SAL inbox, not by moving them.", 409
        )
    try:
        result = services.lead_move_checked(
            lead_id=lead.pk,
            to=data["to"],
            actor=user,
            source=StageChange.Source.UI,
            reason=data["reason"] or "",
            expected_stage=data["expected_stage"],
            expected_changed_at=data["expected_changed_at"],
        )
    except DomainError as exc:
        return fail(exc.code, exc.message, exc.status, exc.field)
    except ValidationError as exc:
        message, bad = _validation_message(exc)
        return fail("invalid", message, 400, bad)
    moved = result.lead
    text = f"{moved.display_name} moved to {Stage(moved.stage).label}."
    if not wants_json:
        messages.success(request, text)
        return redirect("leads:detail", lead_id=moved.pk)
    moved.owner = lead.owner
    badge_lead = selectors.board_column(
        leads=Lead.objects.filter(pk=moved.pk).select_related("owner"), stage=Stage(moved.stage)
    ).leads
    card = render(
        request, "leads/_card.html", {"lead": badge_lead[0] if badge_lead else moved}
    ).content.decode()
    return JsonResponse({"message": text, "stage": moved.stage, "html": card})


@login_required
@require_GET
def lead_detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    user = request_user(request)
    lead = _visible_or_404(user, lead_id)
    moves = _moves_for(user).get(lead.stage, [])
    return render(
        request,
        "leads/lead_detail.html",
        {
            "lead": lead,
            "history": selectors.stage_history(lead=lead),
            "timeline": selectors.lead_timeline(lead=lead),
            "tasks": selectors.lead_tasks(lead=lead),
            "note_form": NoteForm(),
            "task_form": TaskForm(),
            "moves": [(s, Stage(s).label) for s in moves],
            "reason_required": [s.value for s in REASON_REQUIRED],
        },
    )


@login_required
@permission_required("leads.add_lead", raise_exception=True)
def lead_new(request: HttpRequest) -> HttpResponse:
    """ "New lead": a Suspect made by the API's service (``lead_upsert``), except that a known
    e-mail is refused with a link to that lead instead of updating it."""
    user = request_user(request)
    form = LeadCreateForm(request.POST or None)
    existing: Lead | None = None
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
        try:
            result = services.lead_upsert(
                data=data, actor=user, source=StageChange.Source.UI, update_existing=False
            )
        except services.LeadExistsError as exc:
            known = exc.extra["lead_id"]
            if isinstance(known, int):
                existing = selectors.lead_get_visible(user=user, lead_id=known)
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Created {result.lead.display_name}.")
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
        messages.success(request, "Note added.")
    return _section(
        request,
        lead,
        "leads/_timeline.html",
        status,
        note_form=form,
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


# --- list view: sortable table, keyset pages, bulk assign, CSV --------------------------------

SORTS: dict[str, str] = {
    "score": "Score",
    "created_at": "Created",
    "stage_changed_at": "In stage since",
}
# Newest first walks the created_at index. Score order is indexed per stage (the board index):
# across all stages at 1M leads it sorts every row (≈1.5 s), so pick a stage to sort by score.
DEFAULT_SORT = "-created_at"
LIST_PAGE_SIZE = 50


def _sort(params: QueryDict) -> tuple[str, bool]:
    raw = params.get("sort") or DEFAULT_SORT
    field = raw.lstrip("-")
    if field not in SORTS:
        return DEFAULT_SORT.lstrip("-"), True
    return field, raw.startswith("-")


def _keyset(qs: QuerySet[Lead], field: str, desc: bool, after: str) -> QuerySet[Lead]:
    qs = qs.order_by(f"-{field}", "-id") if desc else qs.order_by(field, "id")
    value, sep, raw_id = after.rpartition("|")
    if not sep or not raw_id.isdigit():
        return qs
    parsed: Any = int(value) if field == "score" and value.lstrip("-").isdigit() else None
    if field != "score":
        parsed = parse_datetime(value)
    if parsed is None:
        return qs
    op = "lt" if desc else "gt"
    return qs.filter(Q(**{f"{field}__{op}": parsed}) | Q(**{field: parsed, f"id__{op}": raw_id}))


def _cursor_of(lead: Lead, field: str) -> str:
    value = getattr(lead, field)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return f"{text}|{lead.pk}"


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_GET
def lead_table(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    filters = _filters(request.GET)
    filterset = selectors.lead_filterset(user=user, filters=filters)
    valid = filterset.is_valid()
    field, desc = _sort(request.GET)
    base = filterset.qs.select_related("owner") if valid else Lead.objects.none()
    if request.GET.getlist("stage"):
        base = base.filter(stage__in=request.GET.getlist("stage"))
    rows = list(_keyset(base, field, desc, request.GET.get("after", ""))[: LIST_PAGE_SIZE + 1])
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
        "can_assign": user.has_perm("handover.reassign_handover"),
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


EXPORT_HEADER = (
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "industry",
    "country",
    "source",
    "stage",
    "score",
    "grade",
    "owner",
    "stage_changed_at",
    "created_at",
)


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@require_GET
def lead_export(request: HttpRequest) -> HttpResponseBase:
    """CSV of the filtered, sorted list (streamed; formulas neutralised by ``csv_response``)."""
    user = request_user(request)
    filters = _filters(request.GET)
    filterset = selectors.lead_filterset(user=user, filters=filters)
    if not filterset.is_valid():
        messages.error(request, "Fix the filters before exporting.")
        return redirect(reverse("leads:list") + "?" + filters.urlencode())
    field, desc = _sort(request.GET)
    qs = filterset.qs.select_related("owner")
    if request.GET.getlist("stage"):
        qs = qs.filter(stage__in=request.GET.getlist("stage"))
    qs = _keyset(qs, field, desc, "")
    with transaction.atomic():
        audit_record(
            action="lead.export_csv",
            actor=user,
            target_type="lead",
            details={"filters": filters.dict(), "sort": ("-" if desc else "") + field},
            request=request,
        )
    rows = (
        (
            lead.pk,
            lead.email,
            lead.first_name,
            lead.last_name,
            lead.company,
            lead.industry,
            lead.country,
            lead.source,
            lead.stage,
            lead.score,
            lead.grade,
            lead.owner.get_username() if lead.owner else "",
            lead.stage_changed_at.isoformat(),
            lead.created_at.isoformat(),
        )
        for lead in qs.iterator(chunk_size=2000)
    )
    return csv_response("leads.csv", EXPORT_HEADER, rows)


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
        messages.error(request, "Give the view a name (up to 80 characters).")
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
    messages.success(request, f"Saved the view “{view.name}”.")
    return _back(request, view.query)


@login_required
@require_POST
def saved_view_remove(request: HttpRequest, view_id: int) -> HttpResponse:
    services.saved_view_delete(owner=request_user(request), view_id=view_id)
    messages.success(request, "View deleted.")
    return _back(request)

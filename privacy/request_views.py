"""The data-subject request page (GDPR access and erasure) for people with the privacy
permissions the API checks: find a person by e-mail, export what is held, erase them."""

import json
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError
from leadflow.models import AuditEvent
from privacy import gdpr, selectors
from privacy.forms import SubjectEraseForm, SubjectExportForm, SubjectForm
from privacy.permissions import Perm

TEMPLATE = "privacy/requests.html"


def _page(request: HttpRequest, *, status: int = 200, **ctx: Any) -> HttpResponse:
    ctx.setdefault("form", SubjectForm())
    subject = ctx.get("subject")
    if subject is not None and "erase_form" not in ctx:
        ctx["erase_form"] = SubjectEraseForm(
            initial={"email": subject.email, "leads": ",".join(map(str, subject.lead_ids))}
        )
    ctx["can_erase"] = request.user.has_perm(Perm.ERASE)
    return render(request, TEMPLATE, ctx, status=status)


@login_required
@permission_required(Perm.EXPORT, raise_exception=True)
@require_http_methods(["GET", "POST"])
def subject_request(request: HttpRequest) -> HttpResponse:
    """GET: the look-up form. POST: what is held about the e-mail (POST keeps the address out of
    URLs, browser history and access logs)."""
    if request.method == "GET":
        return _page(request)
    form = SubjectForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    subject = selectors.subject_find(email=form.cleaned_data["email"], user=request_user(request))
    return _page(request, form=form, subject=subject)


@login_required
@permission_required(Perm.EXPORT, raise_exception=True)
@require_POST
def subject_export(request: HttpRequest) -> HttpResponse:
    """The lead's personal data as the API's export returns it (``gdpr.lead_export``), audited."""
    form = SubjectExportForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    email, lead_id = form.cleaned_data["email"], form.cleaned_data["lead"]
    user = request_user(request)
    if lead_id not in selectors.subject_leads(email=email, user=user):
        raise Http404(_("That lead is not one this e-mail names, or you cannot see it."))
    data = gdpr.lead_export(lead_id=lead_id, actor=user, request=request, subject_email=email)
    body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="lead-{lead_id}-personal-data.json"'
    return response


@login_required
@permission_required(Perm.ERASE, raise_exception=True)
@require_POST
def subject_erase(request: HttpRequest) -> HttpResponse:
    """Erase every lead the e-mail names, after the typed confirmation; the page then shows what
    the erasure did (rows per table from its audit rows) and the blocklist entry."""
    user = request_user(request)
    form = SubjectEraseForm(request.POST)
    email = str(request.POST.get("email", "")).strip().lower()
    lookup = SubjectForm({"email": email})
    subject = (
        selectors.subject_find(email=lookup.cleaned_data["email"], user=user)
        if lookup.is_valid()
        else None
    )
    if not form.is_valid():
        return _page(request, form=lookup, subject=subject, erase_form=form, status=400)
    data = form.cleaned_data
    try:
        erased = gdpr.subject_erase(
            email=data["email"],
            lead_ids=data["leads"],
            actor=user,
            reason=data["reason"],
            request=request,
        )
    except DomainError as exc:
        return _page(request, form=lookup, subject=subject, error=exc.message, status=409)
    audits = AuditEvent.objects.filter(
        action="lead.erase", target_type="lead", target_id__in=[str(x.pk) for x in erased]
    ).order_by("id")
    after = selectors.subject_find(email=data["email"], user=user)
    return _page(request, form=lookup, subject=after, erased=erased, erase_audits=audits)

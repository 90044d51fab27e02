"""The Settings index; each section's pages live in a module of their own."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from configure.sections import visible_sections


@login_required
def index(request: HttpRequest) -> HttpResponse:
    sections = visible_sections(request.user)
    if not sections:
        raise PermissionDenied(_("Your role has no settings to change."))
    return render(request, "configure/index.html", {"sections": sections})

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

from leadflow.api.auth import request_user
from leads.lifecycle import FUNNEL, Stage
from leads.selectors import lead_visible_qs


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role starts where it works: managers on their team, reps in the SAL inbox,
    marketers on the board (URL names only, so this bottom layer imports no app above)."""
    user = request_user(request)
    if user.has_perm("handover.reassign_handover"):
        return redirect("reports:manager_home")
    if user.has_perm("handover.decide_sal"):
        return redirect("handover:inbox")
    if user.has_perm("leads.view_all_leads"):
        return redirect("leads:board")
    counts = dict(
        lead_visible_qs(user=user)
        .order_by()
        .values_list("stage")
        .annotate(n=Count("id"))
        .values_list("stage", "n")
    )
    stages = [*FUNNEL, Stage.NURTURE, Stage.DISQUALIFIED]
    rows = [(stage.label, counts.get(stage.value, 0)) for stage in stages]
    return render(request, "home.html", {"rows": rows})


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on documents with no icon link (JSON, CSV, the browsable
    API): send them to the hashed static icon. Temporary (302): the hash changes per release."""
    return redirect(static("favicon.svg"))

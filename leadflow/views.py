from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from leadflow.api.auth import request_user
from leads.lifecycle import FUNNEL, Stage
from leads.selectors import lead_visible_qs


@login_required
def home(request: HttpRequest) -> HttpResponse:
    counts = dict(
        lead_visible_qs(user=request_user(request))
        .order_by()
        .values_list("stage")
        .annotate(n=Count("id"))
        .values_list("stage", "n")
    )
    stages = [*FUNNEL, Stage.NURTURE, Stage.DISQUALIFIED]
    rows = [(stage.label, counts.get(stage.value, 0)) for stage in stages]
    return render(request, "home.html", {"rows": rows})

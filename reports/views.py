"""Manager home: team SLA status and the way into the reports (filled by the reports issue).

Sits at the top of the layering (``reports → handover → scoring → leads → leadflow``)."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from handover.selectors import team_sla_status
from leadflow.api.auth import request_user

# The reports this page links to; the reports issue adds their pages under these names.
REPORT_LINKS = (
    ("Funnel", "Leads reaching each stage, by month"),
    ("MQL → SQL cohorts", "Conversion by month and source"),
    ("Time in stage", "How long leads wait at each step"),
    ("SLA attainment", "Handovers accepted and contacted in time"),
    ("Rejection reasons", "Why reps send leads back, by source"),
)


@login_required
@permission_required("handover.reassign_handover", raise_exception=True)
@require_GET
def manager_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "reports/manager_home.html",
        {"teams": team_sla_status(user=request_user(request)), "reports": REPORT_LINKS},
    )

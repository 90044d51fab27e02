"""The JSON face of every report: ``GET /api/v1/reports/<slug>/?date_from=…&source=…``."""

from typing import Any

from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leadflow.api.auth import ReadWrite
from leadflow.apikeys import Scope
from leadflow.i18n import in_site_time_zone
from reports.filters import ReportFilterForm
from reports.permissions import may_view
from reports.selectors import REPORTS, report_run

_PARAMS = [
    OpenApiParameter(name, OpenApiTypes.STR, required=False, description=field.help_text)
    for name, field in ReportFilterForm.base_fields.items()
]


REPORT_SCOPES = ReadWrite(Scope.REPORTS_READ)  # reports are read-only


def filters_echo(form: ReportFilterForm) -> dict[str, Any]:
    return {k: v for k, v in form.data.items() if k in ReportFilterForm.base_fields and v != ""}


class MayViewReports(BasePermission):
    """Some report at all (which one: ``ReportView`` checks after the slug is known)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and may_view(request.user))


class ReportListView(APIView):
    required_scopes = REPORT_SCOPES
    permission_classes = [IsAuthenticated, MayViewReports]

    @extend_schema(operation_id="reports_list", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        base = request.build_absolute_uri()
        shown = [s for s in REPORTS if may_view(request.user, s)]
        return Response({"reports": [{"slug": s, "url": f"{base}{s}/"} for s in shown]})


class ReportView(APIView):
    required_scopes = REPORT_SCOPES
    permission_classes = [IsAuthenticated, MayViewReports]

    @extend_schema(
        operation_id="reports_run", parameters=_PARAMS, responses={200: OpenApiTypes.OBJECT}
    )
    @method_decorator(in_site_time_zone)
    def get(self, request: Request, slug: str) -> Response:
        if slug not in REPORTS:
            raise NotFound(
                _("There is no report '%(slug)s'; reports: %(reports)s.")
                % {"slug": slug, "reports": ", ".join(REPORTS)}
            )
        if not may_view(request.user, slug):
            raise PermissionDenied(
                _("Your role does not see the report '%(slug)s'.") % {"slug": slug}
            )
        form = ReportFilterForm(request.query_params, user=request.user, slug=slug)
        if not form.is_valid():
            raise ValidationError(_messages(form))
        report = report_run(slug=slug, filters=form.filters())
        return Response({**report.as_dict(), "filters": filters_echo(form)})


def _messages(form: ReportFilterForm) -> dict[str, list[str]]:
    return {field: [str(e) for e in errors] for field, errors in form.errors.items()}

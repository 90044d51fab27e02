from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from leadflow.api.auth import ReadWrite, request_user
from leadflow.apikeys import Scope
from leadflow.csv import csv_response
from leadflow.exceptions import NotFoundError
from leadflow.jobs import job_fail_if_stale
from leads.api.serializers import LeadSerializer
from leads.models import Lead
from leads.permissions import HasPerm
from leads.selectors import lead_visible_qs
from privacy import gdpr, merge, selectors
from privacy.api import serializers as s
from privacy.imports import (
    ensure_size,
    import_job_cancel,
    import_job_create,
    import_job_resume,
    import_preview,
)
from privacy.models import DuplicatePair, ImportJob, MergeRecord, SavedMapping
from privacy.permissions import Perm
from privacy.services import consent_record, consent_state, unsubscribe_url

PRIVACY = ReadWrite(Scope.PRIVACY_READ, Scope.PRIVACY_WRITE)


class _CheckSize:
    """Refuse an upload over the limit from its Content-Length, before reading the body."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication: session auth's CSRF check would parse (spool) the whole body.
        if request.method == "POST":
            ensure_size(int(request.META.get("CONTENT_LENGTH") or 0))
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class ImportJobViewSet(
    _CheckSize,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[ImportJob],
):
    serializer_class = s.ImportJobSerializer
    required_scopes = PRIVACY
    parser_classes = (MultiPartParser, FormParser, JSONParser)
    permission_classes = (IsAuthenticated, HasPerm.of(Perm.IMPORT_LEADS))
    queryset = ImportJob.objects.order_by("-id")

    @extend_schema(request=s.ImportCreateInputSerializer, responses={202: s.ImportJobSerializer})
    def create(self, request: Request) -> Response:
        """Upload a CSV file; the import runs in the background (poll the job for progress)."""
        data = s.ImportCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        saved = v.get("mapping_name")
        job = import_job_create(
            upload=v["file"],
            actor=request_user(request),
            mapping=saved.mapping if saved else v.get("mapping"),
            policy=v["policy"],
            dry_run=v["dry_run"],
            encoding=v["encoding"],
            delimiter=v["delimiter"],
            dayfirst=v["dayfirst"],
            source=v["source"],
            request=request,
        )
        job.refresh_from_db()  # eager (embedded profile): it may have run already
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.ImportPreviewInputSerializer, responses={200: dict})
    @action(detail=False, methods=["post"])
    def preview(self, request: Request) -> Response:
        """Detected encoding/delimiter, header, suggested mapping and the first rows parsed."""
        data = s.ImportPreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return Response(
            import_preview(
                raw=v["file"].file,
                mapping=v.get("mapping"),
                encoding=v["encoding"],
                delimiter=v["delimiter"],
                dayfirst=v["dayfirst"],
            )
        )

    def get_object(self) -> ImportJob:
        return job_fail_if_stale(super().get_object())  # a dead worker's job shows failed

    @extend_schema(request=None, responses={202: s.ImportJobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Stop at the next batch boundary (committed batches stay imported)."""
        job = import_job_cancel(
            job_id=self.get_object().pk, actor=request_user(request), request=request
        )
        job.refresh_from_db()
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: s.ImportJobSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        """Continue a failed or cancelled import after its last committed batch (a dry run
        starts over)."""
        job = import_job_resume(
            job_id=self.get_object().pk, actor=request_user(request), request=request
        )
        job.refresh_from_db()
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(description="error report")})
    @action(detail=True, methods=["get"])
    def errors(self, request: Request, pk: str) -> StreamingHttpResponse:
        job = self.get_object()
        rows = selectors.error_report_rows(job=job)
        header = selectors.error_report_header()
        return csv_response(f"import-{job.pk}-errors.csv", header, rows)


class SavedMappingViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[SavedMapping],
):
    serializer_class = s.SavedMappingSerializer
    required_scopes = PRIVACY
    permission_classes = (IsAuthenticated, HasPerm.of(Perm.IMPORT_LEADS))
    queryset = SavedMapping.objects.order_by("name")
    pagination_class = None

    def perform_create(self, serializer: s.SavedMappingSerializer) -> None:  # type: ignore[override]
        serializer.save(created_by=request_user(self.request))


class PrivacyLeadViewSet(viewsets.GenericViewSet[Lead]):
    """Consent, export and erasure of one lead (404 for leads the caller cannot see)."""

    serializer_class = LeadSerializer
    required_scopes = PRIVACY
    queryset = Lead.objects.none()

    def get_permissions(self) -> list[Any]:
        needed = {
            "export": Perm.EXPORT,
            "erase": Perm.ERASE,
        }.get(self.action or "", Perm.MANAGE_CONSENT)
        return [IsAuthenticated(), HasPerm.of(needed)()]

    def get_queryset(self) -> QuerySet[Lead]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return lead_visible_qs(user=request_user(self.request))

    @extend_schema(request=s.ConsentInputSerializer, responses={201: s.ConsentEventSerializer})
    @action(detail=True, methods=["post"])
    def consent(self, request: Request, pk: str) -> Response:
        lead = self.get_object()
        data = s.ConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = consent_record(
            lead_id=lead.pk, actor=request_user(request), request=request, **data.validated_data
        )
        return Response(s.ConsentEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"], url_path="consent-state")
    def consent_state(self, request: Request, pk: str) -> Response:
        lead = self.get_object()
        return Response(
            {
                "consent": consent_state(lead=lead),
                "email_opt_out": lead.email_opt_out,
                "do_not_call": lead.do_not_call,
                "unsubscribe_url": unsubscribe_url(lead_id=lead.pk),
            }
        )

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str) -> Response:
        """Everything held about the person (GDPR right of access), as JSON."""
        lead = self.get_object()
        data = gdpr.lead_export(lead_id=lead.pk, actor=request_user(request), request=request)
        response = Response(data)
        response["Content-Disposition"] = (
            f'attachment; filename="lead-{lead.pk}-personal-data.json"'
        )
        return response

    @extend_schema(request=s.EraseInputSerializer, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def erase(self, request: Request, pk: str) -> Response:
        lead = self.get_object()
        data = s.EraseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        erased = gdpr.lead_erase(
            lead_id=lead.pk,
            actor=request_user(request),
            reason=data.validated_data["reason"],
            request=request,
        )
        return Response(LeadSerializer(erased, context={"request": request}).data)


class DuplicatePairViewSet(viewsets.ReadOnlyModelViewSet[DuplicatePair]):
    serializer_class = s.DuplicatePairSerializer
    required_scopes = PRIVACY
    permission_classes = (IsAuthenticated, HasPerm.of(Perm.MERGE))

    def get_queryset(self) -> QuerySet[DuplicatePair]:
        return selectors.open_duplicates()

    @extend_schema(request=None, responses={200: dict})
    @action(detail=False, methods=["post"])
    def scan(self, request: Request) -> Response:
        return Response({"open": merge.duplicates_scan()})

    @extend_schema(request=None, responses=s.DuplicatePairSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str) -> Response:
        pair = merge.duplicate_dismiss(pair_id=self.get_object().pk, actor=request_user(request))
        return Response(s.DuplicatePairSerializer(pair).data)


class MergeViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet[MergeRecord]
):
    serializer_class = s.MergeRecordSerializer
    required_scopes = PRIVACY
    permission_classes = (IsAuthenticated, HasPerm.of(Perm.MERGE))
    queryset = MergeRecord.objects.order_by("-id")

    @extend_schema(request=s.MergeInputSerializer, responses={201: LeadSerializer})
    def create(self, request: Request) -> Response:
        data = s.MergeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request_user(request)
        visible = lead_visible_qs(user=user)
        for name in ("survivor", "duplicate"):
            if not visible.filter(pk=data.validated_data[name]).exists():
                raise NotFoundError(
                    _("There is no lead with id %(id)s.") % {"id": data.validated_data[name]},
                    field=name,
                )
        lead = merge.lead_merge(
            survivor_id=data.validated_data["survivor"],
            duplicate_id=data.validated_data["duplicate"],
            actor=user,
            request=request,
        )
        return Response(
            LeadSerializer(lead, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

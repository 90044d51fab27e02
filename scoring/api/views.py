from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from companies.api.views import NOT_FOUND
from companies.api.views import Perm as AccountPerm
from companies.selectors import account_get_visible
from leadflow.api.auth import ReadWrite, request_user
from leadflow.api.pagination import FixedOrderPagination
from leadflow.apikeys import Scope
from leadflow.exceptions import NotFoundError
from leadflow.filters import BIGINT_MAX
from leadflow.jobs import job_fail_if_stale
from leads.permissions import HasPerm
from leads.permissions import Perm as LeadPerm
from leads.selectors import lead_get_visible
from scoring import dry_run_leads, precision, selectors, services
from scoring.api import serializers as s
from scoring.forms import DryRunLeadFilterForm
from scoring.models import ScoringRule, ScoringRun
from scoring.permissions import RUN_CONTROL, Perm

MODEL_WRITE_FIELDS = services.MODEL_FIELDS
RULE_WRITE_FIELDS = services.RULE_FIELDS
SCORING = ReadWrite(Scope.SCORING_READ, Scope.SCORING_WRITE)


class _ScoringPerms:
    required_scopes = SCORING

    def get_permissions(self) -> list[Any]:
        action_name = getattr(self, "action", "") or ""
        needed = (
            Perm.VIEW
            if action_name in ("list", "retrieve", "rule_precision")
            else Perm.PUBLISH
            if action_name == "publish"
            else Perm.CHANGE
        )
        return [IsAuthenticated(), HasPerm.of(needed)()]


class ScoringModelViewSet(_ScoringPerms, viewsets.ModelViewSet[Any]):
    """Versioned scoring models. Drafts are edited; publishing freezes a version and rescores."""

    serializer_class = s.ScoringModelSerializer
    ordering_fields = ("id", "version", "created_at")
    queryset = selectors.model_list()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.ScoringModelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.model_create(
            data={k: v for k, v in data.validated_data.items() if k in MODEL_WRITE_FIELDS},
            actor=request_user(request),
        )
        return Response(s.ScoringModelSerializer(model).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        model = self.get_object()
        data = s.ScoringModelSerializer(model, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        model = services.model_update(
            model_id=model.pk,
            data={k: v for k, v in data.validated_data.items() if k in MODEL_WRITE_FIELDS},
            actor=request_user(request),
        )
        return Response(s.ScoringModelSerializer(model).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.model_delete(model_id=self.get_object().pk, actor=request_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: s.ScoringRunSerializer})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        """Publish this draft: it scores leads from now on; every lead is rescored in the
        background (poll the returned run)."""
        run = services.model_publish(model_id=self.get_object().pk, actor=request_user(request))
        return Response(s.ScoringRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={201: s.ScoringModelSerializer})
    @action(detail=True, methods=["post"], url_path="new-version")
    def new_version(self, request: Request, pk: str) -> Response:
        """A draft copy of this version to edit."""
        model = services.model_new_version(
            model_id=self.get_object().pk, actor=request_user(request)
        )
        return Response(s.ScoringModelSerializer(model).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "days",
                OpenApiTypes.INT,
                description="Handovers opened in the last N days (1-730; default 180).",
            )
        ],
        responses={200: s.PrecisionSerializer},
    )
    @action(detail=True, methods=["get"], url_path="rule-precision")
    def rule_precision(self, request: Request, pk: str) -> Response:
        """How the leads each rule gave points to fared once handed to sales, beside the leads
        handed over without it (docs/scoring.md#rule-precision)."""
        raw = request.query_params.get("days", str(precision.WINDOW_DAYS))
        if not raw.isdigit() or not 1 <= int(raw) <= 730:
            raise ValidationError({"days": [_("Give a whole number of days from 1 to 730.")]})
        model = self.get_object()
        found = precision.rule_precision(list(model.rules.order_by("kind", "id")), days=int(raw))
        rules, total = found if found is not None else ([], precision.Outcomes())
        return Response(
            s.PrecisionSerializer({"days": int(raw), "all": total, "rules": rules}).data
        )

    @extend_schema(request=None, responses={202: s.ScoringRunSerializer})
    @action(detail=True, methods=["post"], url_path="dry-run")
    def dry_run(self, request: Request, pk: str) -> Response:
        """Evaluate this model against current data without writing scores or moving leads."""
        run = services.run_start(
            model_id=self.get_object().pk,
            kind=ScoringRun.Kind.DRY_RUN,
            reason="dry run",
            actor=request_user(request),
        )
        return Response(s.ScoringRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ScoringRuleViewSet(_ScoringPerms, viewsets.ModelViewSet[Any]):
    """Rules of a model (``?model=<id>``); only a draft's rules change."""

    serializer_class = s.ScoringRuleSerializer
    queryset = ScoringRule.objects.select_related("model")
    filterset_fields = ("model", "kind")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.ScoringRuleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        model = values.pop("model")
        rule = services.rule_create(
            model_id=model.pk, data={k: v for k, v in values.items() if k in RULE_WRITE_FIELDS}
        )
        return Response(s.ScoringRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = self.get_object()
        data = s.ScoringRuleSerializer(rule, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = {k: v for k, v in data.validated_data.items() if k in RULE_WRITE_FIELDS}
        rule = services.rule_update(rule_id=rule.pk, data=values)
        return Response(s.ScoringRuleSerializer(rule).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.rule_delete(rule_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeadIdPagination(FixedOrderPagination):
    """A dry run's named leads in lead id order, whatever ``?ordering=`` the runs list takes."""

    ordering = "lead_id"


class ScoringRunViewSet(_ScoringPerms, viewsets.ReadOnlyModelViewSet[Any]):
    """Rescores and dry runs with their progress and (dry run) results."""

    serializer_class = s.ScoringRunSerializer
    queryset = selectors.run_list()
    filterset_fields = ("model", "kind", "status")
    ordering_fields = ("id", "created_at")

    def get_permissions(self) -> list[Any]:
        if getattr(self, "action", "") in ("cancel", "resume"):
            # and the permission that starts this kind of run, checked in _control
            return [IsAuthenticated(), HasPerm.of(Perm.VIEW)()]
        return super().get_permissions()

    def get_object(self) -> Any:
        return job_fail_if_stale(super().get_object())  # a dead worker's run shows failed

    def _control(self, request: Request, service: Any) -> Response:
        run = self.get_object()
        if not request.user.has_perm(RUN_CONTROL[run.kind].value):
            raise PermissionDenied
        run = service(run_id=run.pk, actor=request_user(request), request=request)
        run.refresh_from_db()
        return Response(s.ScoringRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: s.ScoringRunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Stop at the next batch boundary (a queued run at once)."""
        return self._control(request, services.run_cancel)

    @extend_schema(request=None, responses={202: s.ScoringRunSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        """A failed or cancelled rescore continues after its last batch; a dry run starts over."""
        return self._control(request, services.run_resume)

    @extend_schema(
        parameters=[
            OpenApiParameter(name, OpenApiTypes.STR, required=False, description=str(f.label))
            for name, f in DryRunLeadFilterForm.base_fields.items()
        ],
        responses={200: s.DryRunLeadSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=LeadIdPagination)
    def leads(self, request: Request, pk: str) -> Response:
        """A dry run's named leads: who the draft would move into (``enter``) or out of
        (``leave``) MQL, in lead id order, and where the new MQLs would be routed."""
        run = self.get_object()
        if run.kind != ScoringRun.Kind.DRY_RUN:
            raise NotFound(_("Run %(id)s is a rescore; only dry runs name leads.") % {"id": run.pk})
        form = DryRunLeadFilterForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(
                {k: [str(e) for e in errors] for k, errors in form.errors.items()}
            )
        rows = dry_run_leads.movers(run_id=run.pk, **form.filters())
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.DryRunLeadSerializer(page, many=True).data)


class LeadBreakdownViewSet(viewsets.GenericViewSet[Any]):
    required_scopes = SCORING
    permission_classes = [IsAuthenticated, HasPerm.of(LeadPerm.VIEW_LEAD)]
    serializer_class = s.BreakdownSerializer
    queryset = ScoringRule.objects.none()

    @extend_schema(responses=s.BreakdownSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        """Why this lead has its score: per rule (points, count, decay) from the evaluation that
        stored it. 404 when the lead is not visible to you or has never been scored."""
        if (
            not pk.isdigit()
            or lead_get_visible(user=request_user(request), lead_id=int(pk)) is None
        ):
            raise NotFoundError(_("There is no lead with id %(id)s.") % {"id": pk}, field="lead")
        breakdown = selectors.score_breakdown(lead_id=int(pk))
        if breakdown is None:
            raise NotFoundError(_("This lead has not been scored yet."), field="lead")
        return Response(breakdown)

    def get_queryset(self) -> QuerySet[Any]:
        return self.queryset


class AccountScoreView(generics.GenericAPIView[Any]):
    """``GET /api/v1/accounts/{id}/score/``: the account's stored score and why (``accounts:read``,
    ``companies.view_account``). Routed here, not in companies/api: ``companies`` imports no
    scoring."""

    required_scopes = ReadWrite(Scope.ACCOUNTS_READ, Scope.ACCOUNTS_WRITE)
    permission_classes = [IsAuthenticated, HasPerm.of(AccountPerm.VIEW)]
    serializer_class = s.AccountScoreSerializer
    pagination_class = None
    filter_backends: list[Any] = []
    queryset = ScoringRule.objects.none()

    @extend_schema(
        responses={200: s.AccountScoreSerializer, 404: NOT_FOUND},
        description="The account's stored score (written by the account scoring sweep): "
        "totals, grade, the parts of engagement, the matching account fit rules by name and "
        "the most engaged members. 404 naming `account` when there is no such account you "
        "can see, or it has not been scored yet.",
    )
    def get(self, request: Request, account_id: int) -> Response:
        user = request_user(request)
        pk = int(account_id)
        account = None if pk > BIGINT_MAX else account_get_visible(user=user, account_id=pk)
        if account is None:
            raise NotFoundError(_("There is no such account."), field="account")
        stored = selectors.account_score_stored(account=account)
        if stored is None:
            raise NotFoundError(_("This account has not been scored yet."), field="account")
        return Response(s.AccountScoreSerializer(stored).data)

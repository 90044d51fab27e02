from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from companies.selectors import account_visible_qs
from handover import account_handovers, outbox, selectors, services, sla
from handover.api import serializers as s
from handover.filtersets import (
    AccountHandoverFilterSet,
    DeliveryFilterSet,
    HandoverFilterSet,
    SlaTimerFilterSet,
)
from handover.models import (
    AccountHandover,
    AssignmentMember,
    AssignmentRule,
    BusinessCalendarConfig,
    Delivery,
    Handover,
    Notification,
    OutOfOffice,
    QualificationChecklist,
    QualificationFramework,
    RejectionReason,
    SlaPolicy,
    SlaTimer,
    WebhookSubscription,
)
from handover.permissions import HasPerm, Perm
from leadflow.api.auth import ReadWrite, request_user
from leadflow.api.config_rows import ConfigViewSet
from leadflow.apikeys import Scope
from leadflow.exceptions import NotFoundError, PermissionDeniedError
from leads.models import ExitReason
from leads.selectors import lead_get_visible, lead_visible_qs

HANDOVER = ReadWrite(Scope.HANDOVER_READ, Scope.HANDOVER_WRITE)
WEBHOOKS = ReadWrite(Scope.WEBHOOKS_READ, Scope.WEBHOOKS_WRITE)


class HandoverViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    required_scopes = HANDOVER
    serializer_class = s.HandoverSerializer
    filterset_class = HandoverFilterSet
    ordering_fields = ("id", "opened_at")
    queryset = Handover.objects.none()

    def get_permissions(self) -> list[Any]:
        needed = {
            "accept": Perm.DECIDE_SAL,
            "reject": Perm.DECIDE_SAL,
            "reassign": Perm.REASSIGN,
        }.get(self.action or "", Perm.VIEW)
        return [IsAuthenticated(), HasPerm.of(needed)()]

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return selectors.handover_visible_qs(user=request_user(self.request))

    @extend_schema(responses=s.HandoverSerializer(many=True))  # a page of them, not one
    @action(detail=False, methods=["get"], filter_backends=[])  # the inbox takes no filters
    def inbox(self, request: Request) -> Response:
        """Open handovers for me to accept or reject (mine and my teams' queue)."""
        page = self.paginate_queryset(selectors.handover_inbox(user=request_user(request)))
        return self.get_paginated_response(s.HandoverSerializer(page, many=True).data)

    @extend_schema(responses=s.RejectionCountSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def rejections(self, request: Request) -> Response:
        """Rejections counted by lead source and reason."""
        return Response(selectors.rejections_by_source(user=request_user(request)))

    @extend_schema(request=s.HandoverAcceptInputSerializer, responses=s.HandoverSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        handover = self.get_object()  # 404 for handovers the caller cannot see
        data = s.HandoverAcceptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handover = services.handover_accept(
            handover_id=handover.pk,
            actor=request_user(request),
            expected=data.pop_expected(dict(data.validated_data)),
        )
        return Response(s.HandoverSerializer(handover).data)

    @extend_schema(request=s.HandoverRejectInputSerializer, responses=s.HandoverSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        handover = self.get_object()
        data = s.HandoverRejectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handover = services.handover_reject(
            handover_id=handover.pk,
            actor=request_user(request),
            reason_code=data.validated_data["reason"],
            comment=data.validated_data["comment"],
            expected=data.pop_expected(dict(data.validated_data)),
        )
        return Response(s.HandoverSerializer(handover).data)

    @extend_schema(request=s.ReassignInputSerializer, responses=s.HandoverSerializer)
    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, pk: str) -> Response:
        handover = self.get_object()
        data = s.ReassignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.lead_reassign(
            lead_id=handover.lead_id,
            owner_id=data.validated_data["owner"],
            actor=request_user(request),
        )
        handover.refresh_from_db()
        return Response(s.HandoverSerializer(handover).data)


class AccountHandoverViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    """Marketing-qualified accounts handed to their owners (the accounts the caller can see)."""

    required_scopes = HANDOVER
    serializer_class = s.AccountHandoverSerializer
    filterset_class = AccountHandoverFilterSet
    ordering_fields = ("id", "opened_at", "due_at")
    queryset = AccountHandover.objects.none()

    def get_permissions(self) -> list[Any]:
        needed = Perm.DECIDE_SAL if self.action in ("accept", "reject") else Perm.VIEW
        return [IsAuthenticated(), HasPerm.of(needed)()]

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        visible = account_visible_qs(user=request_user(self.request)).values("pk")
        return (
            AccountHandover.objects.filter(account__in=visible)
            .select_related("account", "rejection_reason")
            .order_by("-opened_at", "-pk")
        )

    @extend_schema(request=None, responses=s.AccountHandoverSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        """Take the account on (its owner, a manager of its team, or from the team's queue)."""
        handover = self.get_object()  # 404 for accounts the caller cannot see
        handover = account_handovers.handover_accept(
            handover_id=handover.pk, actor=request_user(request)
        )
        return Response(s.AccountHandoverSerializer(handover).data)

    @extend_schema(request=s.AccountRejectInputSerializer, responses=s.AccountHandoverSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        """Reject with a rejection reason's code (and a comment where the reason needs one)."""
        handover = self.get_object()
        data = s.AccountRejectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handover = account_handovers.handover_reject(
            handover_id=handover.pk,
            actor=request_user(request),
            reason_code=data.validated_data["reason"],
            comment=data.validated_data["comment"],
        )
        return Response(s.AccountHandoverSerializer(handover).data)


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Any]):
    required_scopes = HANDOVER
    serializer_class = s.NotificationSerializer
    ordering_fields = ("id", "created_at")
    queryset = Notification.objects.none()

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        unread = self.request.query_params.get("unread") in ("1", "true")
        return selectors.notification_list(user=request_user(self.request), unread_only=unread)

    @extend_schema(responses=s.UnreadCountSerializer)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request: Request) -> Response:
        return Response({"unread": selectors.notification_unread_count(user=request_user(request))})

    @extend_schema(request=s.MarkReadInputSerializer, responses=s.MarkedSerializer)
    @action(detail=False, methods=["post"], url_path="mark-read")
    def mark_read(self, request: Request) -> Response:
        data = s.MarkReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changed = services.notifications_mark_read(
            user=request_user(request), ids=data.validated_data.get("ids")
        )
        return Response({"marked": changed})


class SettingsViewSet(ConfigViewSet):
    """Handover configuration rows: everyone with handover access reads, managers write."""

    write_perm = Perm.MANAGE_SETTINGS
    read_perm = Perm.VIEW
    required_scopes = HANDOVER


class RejectionReasonViewSet(SettingsViewSet):
    queryset = RejectionReason.objects.all()
    serializer_class = s.RejectionReasonSerializer


class ExitReasonViewSet(SettingsViewSet):
    """Why leads leave after acceptance; the codes ``reason_code`` takes on lead moves."""

    queryset = ExitReason.objects.all()
    serializer_class = s.ExitReasonSerializer


class FrameworkViewSet(SettingsViewSet):
    queryset = QualificationFramework.objects.all()
    serializer_class = s.FrameworkSerializer


class CalendarViewSet(SettingsViewSet):
    queryset = BusinessCalendarConfig.objects.all()
    serializer_class = s.CalendarSerializer


class SlaPolicyViewSet(SettingsViewSet):
    queryset = SlaPolicy.objects.select_related("calendar")
    serializer_class = s.SlaPolicySerializer


class AssignmentRuleViewSet(SettingsViewSet):
    queryset = AssignmentRule.objects.prefetch_related("members")
    serializer_class = s.AssignmentRuleSerializer


class AssignmentMemberViewSet(SettingsViewSet):
    queryset = AssignmentMember.objects.all()
    serializer_class = s.AssignmentMemberSerializer


class OutOfOfficeViewSet(SettingsViewSet):
    """Reps manage their own absences; managers anyone's."""

    serializer_class = s.OutOfOfficeSerializer
    queryset = OutOfOffice.objects.none()
    write_perm = Perm.VIEW

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        user = request_user(self.request)
        qs = OutOfOffice.objects.all()
        return qs if user.has_perm(Perm.MANAGE_SETTINGS) else qs.filter(user=user)

    def _clean(self, data: dict[str, Any]) -> dict[str, Any]:
        user = request_user(self.request)
        if data.get("user") not in (None, user) and not user.has_perm(Perm.MANAGE_SETTINGS):
            raise PermissionDeniedError(_("You may only record your own absences."), field="user")
        return {**data, "user": data.get("user") or user}


class WebhookSubscriptionViewSet(SettingsViewSet):
    queryset = WebhookSubscription.objects.all()
    serializer_class = s.WebhookSubscriptionSerializer
    read_perm = write_perm = Perm.MANAGE_WEBHOOKS
    required_scopes = WEBHOOKS

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        # The secret is shown once, in the create response; reads and updates show a hint.
        if self.action == "create":
            return s.WebhookSubscriptionCreatedSerializer
        return s.WebhookSubscriptionSerializer

    def _clean(self, data: dict[str, Any]) -> dict[str, Any]:
        if "url" in data:
            outbox.resolve_destination(data["url"])  # refuse private/unresolvable targets now
        return data


class DeliveryViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    required_scopes = WEBHOOKS
    serializer_class = s.DeliverySerializer
    filterset_class = DeliveryFilterSet
    ordering_fields = ("id", "created_at", "next_attempt_at")
    permission_classes = [IsAuthenticated, HasPerm.of(Perm.MANAGE_WEBHOOKS)]
    queryset = Delivery.objects.none()

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return selectors.delivery_list()

    @extend_schema(responses=s.DeliveryAttemptSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def attempts(self, request: Request, pk: str) -> Response:
        return Response(s.DeliveryAttemptSerializer(self.get_object().log.all(), many=True).data)

    @extend_schema(request=None, responses=s.DeliverySerializer)
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk: str) -> Response:
        delivery = outbox.delivery_redeliver(
            delivery_id=self.get_object().pk, actor=request_user(request), request=request._request
        )
        return Response(s.DeliverySerializer(delivery).data)


class SlaTimerViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    required_scopes = HANDOVER
    serializer_class = s.SlaTimerSerializer
    filterset_class = SlaTimerFilterSet
    ordering_fields = ("id", "started_at", "due_at")
    permission_classes = [IsAuthenticated, HasPerm.of(Perm.VIEW)]
    queryset = SlaTimer.objects.none()

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        visible = lead_visible_qs(user=request_user(self.request)).values("pk")
        return SlaTimer.objects.filter(lead__in=visible).prefetch_related("events")

    @extend_schema(request=None, responses=s.SlaTimerSerializer)
    @action(detail=True, methods=["post"])
    def met(self, request: Request, pk: str) -> Response:
        """The owner did what the SLA asks (e.g. first contact with a new SQL): stop the clock."""
        timer = sla.timer_mark_met(timer_id=self.get_object().pk, actor=request_user(request))
        return Response(s.SlaTimerSerializer(timer).data)


class ChecklistViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Any]):
    required_scopes = HANDOVER
    """A lead's qualification answers; POST saves (merges) answers and re-evaluates the rule."""

    serializer_class = s.ChecklistSerializer
    queryset = QualificationChecklist.objects.none()

    def get_permissions(self) -> list[Any]:
        needed = Perm.QUALIFY if self.action == "create" else Perm.VIEW
        return [IsAuthenticated(), HasPerm.of(needed)()]

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        visible = lead_visible_qs(user=request_user(self.request)).values("pk")
        qs = QualificationChecklist.objects.filter(lead__in=visible).select_related("framework")
        lead = self.request.query_params.get("lead")
        return qs.filter(lead_id=lead) if lead and lead.isdigit() else qs

    @extend_schema(request=s.ChecklistInputSerializer, responses=s.ChecklistSerializer)
    def create(self, request: Request) -> Response:
        data = s.ChecklistInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request_user(request)
        if lead_get_visible(user=user, lead_id=data.validated_data["lead"]) is None:
            raise NotFoundError(_("There is no such lead you can see."), field="lead")
        checklist = services.checklist_save(
            lead_id=data.validated_data["lead"],
            framework_code=data.validated_data["framework"],
            answers=data.validated_data["answers"],
            actor=user,
        )
        return Response(s.ChecklistSerializer(checklist).data)

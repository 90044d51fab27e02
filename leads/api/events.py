"""``/api/v1/events/`` (one event) and ``/api/v1/events/batch/`` (up to 500): LeadFlow's own
event format, stored by the same exactly-once ingestion as the Segment endpoints."""

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from leadflow.api.auth import request_user
from leadflow.api.idempotency import IdempotentMixin
from leadflow.api.serializers import JSONField
from leadflow.apikeys import Scope
from leadflow.validators import reject_nul
from leads import interactions
from leads.api.serializers import StrictSerializerMixin
from leads.ingest import ItemError, Message, ingest
from leads.models import Activity, ActivityKind
from leads.permissions import HasPerm, Perm
from leads.selectors import lead_visible_qs
from leads.services import normalize_email

MAX_BATCH = 500


class EventInputSerializer(StrictSerializerMixin, serializers.Serializer[dict[str, Any]]):
    message_id = serializers.CharField(
        max_length=200,
        required=False,
        help_text="Your unique id for the event: sending it again stores nothing twice.",
    )
    lead = serializers.IntegerField(required=False, min_value=1, help_text="A lead id, or:")
    email = serializers.EmailField(required=False)
    external_id = serializers.CharField(max_length=128, required=False)
    anonymous_id = serializers.CharField(max_length=128, required=False)
    kind = serializers.ChoiceField(
        choices=ActivityKind.choices,
        help_text="The sales_call, sales_meeting and sales_email kinds (an interaction a person "
        "had with the lead) need properties.outcome from their list (docs/api.md) and take "
        "properties.duration_minutes (calls and meetings, 1-480) and properties.notes.",
    )
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    occurred_at = serializers.DateTimeField(required=False)
    properties = serializers.DictField(required=False, default=dict, validators=[reject_nul])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if not any(attrs.get(k) for k in ("lead", "email", "external_id", "anonymous_id")):
            raise serializers.ValidationError(
                {"lead": _("Name the lead: lead, email, external_id or anonymous_id.")}
            )
        if interactions.is_logged(attrs["kind"]):
            props = attrs.get("properties") or {}
            errors = interactions.interaction_errors(
                kind=attrs["kind"],
                outcome=props.get("outcome"),
                duration_minutes=props.get("duration_minutes"),
                occurred_at=attrs.get("occurred_at"),
                notes=props.get("notes", ""),
                now=timezone.now(),
            )
            if errors:
                raise serializers.ValidationError(
                    {
                        (field if field == "occurred_at" else f"properties.{field}"): message
                        for field, message in errors.items()
                    }
                )
        return attrs


class EventBatchInputSerializer(StrictSerializerMixin, serializers.Serializer[dict[str, Any]]):
    events = serializers.ListField(child=JSONField(), max_length=MAX_BATCH, allow_empty=False)


EventResultSerializer = inline_serializer(
    "EventResult",
    {
        "id": serializers.IntegerField(allow_null=True),
        "lead": serializers.IntegerField(),
        "message_id": serializers.CharField(),
        "duplicate": serializers.BooleanField(),
    },
)
BatchResultSerializer = inline_serializer(
    "EventBatchResult",
    {
        "stored": serializers.IntegerField(),
        "duplicates": serializers.IntegerField(),
        "errors": serializers.ListField(child=serializers.DictField()),
    },
)


def _to_message(index: int, data: dict[str, Any]) -> Message:
    return Message(
        index=index,
        type="activity",
        message_id=data.get("message_id"),
        lead_id=data.get("lead"),
        email=normalize_email(data.get("email")),
        user_id=data.get("external_id") or None,
        anonymous_id=data.get("anonymous_id") or None,
        kind=data["kind"],
        name=data.get("name", ""),
        occurred_at=data.get("occurred_at") or timezone.now(),
        time_field="occurred_at",
        properties=data.get("properties") or {},
    )


def _check_leads(request: Request, messages: list[Message]) -> list[ItemError]:
    """Events naming a lead id must name one the caller can see."""
    wanted = {m.lead_id for m in messages if m.lead_id}
    if not wanted:
        return []
    visible = set(
        lead_visible_qs(user=request_user(request))
        .filter(pk__in=wanted)
        .values_list("pk", flat=True)
    )
    errors = []
    for m in list(messages):
        if m.lead_id and m.lead_id not in visible:
            errors.append(
                ItemError(
                    m.index,
                    "lead_not_found",
                    _("There is no lead %(id)s.") % {"id": m.lead_id},
                    "lead",
                )
            )
            messages.remove(m)
    return errors


class _EventView(IdempotentMixin):
    permission_classes = [IsAuthenticated, HasPerm.of(Perm.ADD_ACTIVITY)]
    required_scopes = {"post": Scope.EVENTS_WRITE.value}
    idempotent_actions = frozenset({"post"})


class EventView(_EventView):
    @extend_schema(
        request=EventInputSerializer,
        responses={
            201: EventResultSerializer,
            200: OpenApiResponse(EventResultSerializer, description="Already stored (duplicate)"),
            400: OpenApiResponse(description="Invalid fields"),
            404: OpenApiResponse(description="No such lead"),
        },
        tags=["events"],
    )
    def post(self, request: Request) -> Response:
        data = EventInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        messages = [_to_message(0, data.validated_data)]
        if errors := _check_leads(request, messages):
            return Response(
                {"error": {"code": errors[0].code, "message": errors[0].message, "field": "lead"}},
                status=status.HTTP_404_NOT_FOUND,
            )
        result = ingest(messages=messages, source="api")
        if result.errors:
            error = result.errors[0]
            body = {"code": error.code, "message": error.message}
            return Response({"error": {**body, "field": error.field}}, status=400)
        message_id = messages[0].message_id or ""
        activity_id, lead_id = result.outcomes.get(0, (None, 0))
        if activity_id is None:  # a duplicate: answer with the stored one
            stored = Activity.objects.filter(message_id=message_id).values_list("pk", "lead_id")
            activity_id, lead_id = stored.first() or (None, lead_id)
        return Response(
            {
                "id": activity_id,
                "lead": lead_id,
                "message_id": message_id,
                "duplicate": result.duplicates > 0,
            },
            status=status.HTTP_200_OK if result.duplicates else status.HTTP_201_CREATED,
        )


class EventBatchView(_EventView):
    @extend_schema(
        request=EventBatchInputSerializer,
        responses={200: BatchResultSerializer, 400: OpenApiResponse(description="Bad envelope")},
        tags=["events"],
    )
    def post(self, request: Request) -> Response:
        envelope = EventBatchInputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        messages: list[Message] = []
        errors: list[ItemError] = []
        for index, raw in enumerate(envelope.validated_data["events"]):
            item = EventInputSerializer(data=raw)
            if item.is_valid():
                messages.append(_to_message(index, item.validated_data))
                continue
            detail = item.errors if isinstance(item.errors, dict) else {}
            name, problems = next(iter(detail.items()), ("non_field_errors", [_("Invalid.")]))
            problem = problems[0] if isinstance(problems, list) and problems else problems
            errors.append(ItemError(index, "invalid", f"{name}: {problem}", field=str(name)))
        errors += _check_leads(request, messages)
        result = ingest(messages=messages, source="api")
        all_errors = sorted([*errors, *result.errors], key=lambda e: e.index)
        return Response(
            {
                "stored": result.stored,
                "duplicates": result.duplicates,
                "errors": [e.as_dict() for e in all_errors],
            }
        )

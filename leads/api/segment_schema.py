"""OpenAPI description of the Segment-compatible endpoints (``leads.api.segment``).

Only documentation: the views parse the wire format themselves (per-message errors, size
limits, gzip), so these serializers never validate a request. They let the schema, Swagger UI
and Schemathesis (tests/api) cover ``/v1/*`` like the REST endpoints.
"""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers

_TYPES = ["identify", "track", "page", "screen", "group", "alias"]


def _message_fields(*, batch: bool) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    return {
        "type": serializers.ChoiceField(
            choices=_TYPES,
            required=batch,
            help_text="Required in a batch; the single endpoints imply it.",
        ),
        "messageId": serializers.CharField(
            max_length=200, help_text="Unique per message: what makes ingestion exactly-once."
        ),
        "userId": serializers.CharField(
            required=False, max_length=128, help_text="The lead's external id (alias: required)."
        ),
        "anonymousId": serializers.CharField(
            required=False, max_length=128, help_text="At least one of userId, anonymousId."
        ),
        "timestamp": serializers.DateTimeField(required=False),
        "originalTimestamp": serializers.DateTimeField(required=False),
        "sentAt": serializers.DateTimeField(required=False),
        "event": serializers.CharField(required=False, help_text="track: the event name."),
        "name": serializers.CharField(required=False, help_text="page/screen: the page name."),
        "groupId": serializers.CharField(
            required=False, max_length=128, help_text="group (required): the company's id."
        ),
        "previousId": serializers.CharField(
            required=False,
            max_length=128,
            help_text="alias (required): the id that becomes the same person as userId.",
        ),
        "category": serializers.CharField(required=False),
        "properties": serializers.DictField(required=False),
        "traits": serializers.DictField(
            required=False, help_text="identify: lead fields; group: the company's."
        ),
        "context": serializers.DictField(
            required=False,
            help_text="campaign (UTM tags), page, ip, userAgent, locale, referrer, traits.email; "
            "userHash: the identity signature a public key needs to change a known lead (hex "
            "HMAC-SHA256 of userId with the key's identity secret).",
        ),
        "integrations": serializers.DictField(required=False),
    }


class SegmentItemError(serializers.Serializer[Any]):
    """An item error (or, in ``ignored``, a message applied in part)."""

    index = serializers.IntegerField(required=False, help_text="None in ignored: the envelope's.")
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(required=False)
    ignored_fields = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="In ignored: what of the message was not applied.",
    )


def _result_fields() -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    return {
        "success": serializers.BooleanField(),
        "stored": serializers.IntegerField(),
        "duplicates": serializers.IntegerField(),
        "ignored": serializers.ListField(
            child=SegmentItemError(),
            required=False,
            help_text="Messages applied in part: fields outside the spec left out (code "
            "outside_spec), or, from a public key, a known lead left unchanged without a valid "
            "context.userHash (code identity_signature_required).",
        ),
    }


_ERRORS = {
    400: OpenApiResponse(description="Malformed JSON, bad gzip, or a bad envelope/message"),
    401: OpenApiResponse(description="No key, or an unknown or revoked one"),
    403: OpenApiResponse(description="The key lacks events:write"),
    413: OpenApiResponse(description="Over 500 KB per batch or 32 KB per message"),
    429: OpenApiResponse(description="Over the key's rate limit (Retry-After)"),
}

batch_schema = extend_schema(
    summary="Segment batch: identify/track/page/screen/group/alias messages",
    request={
        "application/json": inline_serializer(
            "SegmentBatch",
            fields={
                "batch": serializers.ListField(
                    child=inline_serializer("SegmentMessage", fields=_message_fields(batch=True))
                ),
                "sentAt": serializers.DateTimeField(required=False),
                "writeKey": serializers.CharField(required=False),
                "context": serializers.DictField(required=False),
                "integrations": serializers.DictField(required=False),
            },
        )
    },
    responses={
        200: inline_serializer(
            "SegmentBatchResult",
            fields={
                **_result_fields(),
                "identified": serializers.IntegerField(),
                "grouped": serializers.IntegerField(),
                "aliased": serializers.IntegerField(),
                "errors": serializers.ListField(child=SegmentItemError(), required=False),
            },
        ),
        **_ERRORS,
    },
)

single_schema = extend_schema(
    request={
        "application/json": inline_serializer(
            "SegmentSingleMessage", fields=_message_fields(batch=False)
        )
    },
    responses={
        200: inline_serializer(
            "SegmentSingleResult",
            fields=_result_fields(),
        ),
        **_ERRORS,
    },
)

"""Segment-compatible ingestion: ``POST /v1/batch`` and one message at a time on ``/v1/track``,
``/v1/identify``, ``/v1/page``, ``/v1/screen``, ``/v1/group``, ``/v1/alias``.

The wire format is the one the ``segment-analytics-python`` and ``rudder-sdk-python`` clients
send (and Segment's HTTP Tracking API documents): a JSON body, optionally gzip-compressed
(``Content-Encoding: gzip``), with the write key as the HTTP Basic user name or as ``writeKey``
in the body. The write key is a LeadFlow API key with the ``events:write`` scope.

- 200 ``{"success": true, ...}`` whenever the envelope is sound: the clients retry anything
  else (429 and 5xx), so per-message problems are reported in ``errors`` (index, code,
  message, field) while the valid messages are stored.
- 400 for malformed JSON, bad gzip, a missing ``batch``; 413 past 500 KB per batch (after
  decompression) or 32 KB per single message; 401/403/429 as everywhere in the API.
- A public key (a website's) may send here and nowhere else; what it may change is
  ``leads.writepolicy``'s rule, and what it could not apply is listed in ``ignored``.
- ``timestamp`` is corrected for the sender's clock: receivedAt − (sentAt − timestamp); a
  corrected time outside the plausibility window is an item error (``leads.ingest``).
"""

import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException, AuthenticationFailed, ParseError
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leadflow.api.auth import check_scope, request_api_key
from leadflow.apikeys import Scope, api_key_lookup
from leadflow.models import ApiKey, User
from leadflow.validators import nul_path
from leads.api.browser import BrowserCorsMixin
from leads.api.segment_context import (
    InvalidField,
    campaign,
    consent_given,
    kept_context,
    must_be_object,
    must_be_string,
)
from leads.api.segment_schema import batch_schema, single_schema
from leads.extensions import browser_refusals
from leads.ingest import (
    ACTIVITY,
    ALIAS,
    GROUP,
    IDENTIFY,
    IngestResult,
    ItemError,
    Message,
    ingest,
    normalize_id,
)
from leads.models import ActivityKind
from leads.permissions import HasPerm, Perm
from leads.services import normalize_email
from leads.writepolicy import SERVER, SIGNATURE_FIELD, Caller

MAX_BATCH_BYTES = 500 * 1024
MAX_MESSAGE_BYTES = 32 * 1024
MAX_MESSAGE_ID = 200

MESSAGE_KEYS = frozenset(
    {
        "type",
        "messageId",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "receivedAt",
        "userId",
        "anonymousId",
        "event",
        "name",
        "category",
        "properties",
        "traits",
        "context",
        "integrations",
        "version",
        "channel",
        "_metadata",
        "writeKey",
        "options",
        "groupId",
        "previousId",
    }
)
ENVELOPE_KEYS = frozenset({"batch", "sentAt", "writeKey", "context", "integrations", "_metadata"})
SUPPORTED_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})

# Segment spec event names (and common variants) that are activity kinds scoring knows
EVENT_KINDS: dict[str, str] = {
    "form submitted": ActivityKind.FORM_SUBMIT,
    "file downloaded": ActivityKind.DOWNLOAD,
    "download": ActivityKind.DOWNLOAD,
    "webinar attended": ActivityKind.WEBINAR,
    "email opened": ActivityKind.EMAIL_OPEN,
    "email link clicked": ActivityKind.EMAIL_CLICK,
    "email clicked": ActivityKind.EMAIL_CLICK,
    "email bounced": ActivityKind.EMAIL_BOUNCE,
    "unsubscribed": ActivityKind.UNSUBSCRIBE,
    "meeting booked": ActivityKind.MEETING,
    "trial started": ActivityKind.TRIAL,
}


class PayloadTooLargeError(APIException):
    status_code = 413
    default_code = "payload_too_large"
    default_detail = gettext_lazy("The request body is too large.")


class SegmentParser(BaseParser):
    """JSON, optionally gzip-compressed; refuses bodies past the view's ``max_bytes``."""

    media_type = "*/*"  # the clients send application/json; browsers' beacons text/plain

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        context = parser_context or {}
        request = context["request"]
        limit: int = getattr(context.get("view"), "max_bytes", MAX_BATCH_BYTES)
        too_large = PayloadTooLargeError(
            _("The body is larger than %(size)s KB.") % {"size": limit // 1024}
        )
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > limit:
            raise too_large
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise too_large
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if encoding == "gzip":
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                raw = inflater.decompress(raw, limit + 1)
            except zlib.error:
                raise ParseError(_("The body is not valid gzip."), code="bad_gzip") from None
            if len(raw) > limit or inflater.unconsumed_tail:
                raise PayloadTooLargeError(
                    _("The body is larger than %(size)s KB once decompressed.")
                    % {"size": limit // 1024}
                )
            if not inflater.eof:
                raise ParseError(_("The gzip body is truncated."), code="bad_gzip")
        elif encoding not in ("", "identity"):
            raise ParseError(
                _("Unsupported Content-Encoding %(encoding)s.") % {"encoding": repr(encoding)},
                code="bad_encoding",
            )
        try:
            return orjson.loads(raw)  # ~5x the stdlib's speed; refuses NaN and lone surrogates
        except orjson.JSONDecodeError as exc:
            raise ParseError(
                _("Malformed JSON: %(error)s") % {"error": exc}, code="malformed_json"
            ) from None


class WriteKeyBodyAuthentication(BaseAuthentication):
    """Segment's other way: ``writeKey`` in the JSON body (when there is no Authorization)."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        data = request.data
        raw = data.get("writeKey") if isinstance(data, dict) else None
        if not raw:
            return None
        key = api_key_lookup(str(raw))
        if key is None:
            raise AuthenticationFailed(_("Unknown or revoked API key."), code="invalid_api_key")
        view = (getattr(request, "parser_context", None) or {}).get("view")
        check_scope(key, view, request)
        return key.user, key


class WriteKeyBodyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """OpenAPI: the write key may also travel in the JSON body as ``writeKey``."""

    target_class = WriteKeyBodyAuthentication
    name = "segmentWriteKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Segment clients send the key as the HTTP Basic user name, or as "
            "`writeKey` in the JSON body.",
        }


def parse_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(field, _("must be an ISO 8601 date-time string"))
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Invalid(
            field, _("%(value)s is not an ISO 8601 date-time") % {"value": repr(value[:40])}
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_Invalid = InvalidField


def to_message(
    index: int,
    raw: Any,
    *,
    received_at: datetime,
    sent_at: datetime | None,
    implied_type: str | None = None,
    check_size: bool = True,
) -> Message:
    """One wire message → ``Message``; raises _Invalid naming the field. Top-level fields
    outside the spec are left out and listed in ``Message.ignored``."""
    if not isinstance(raw, dict):
        raise _Invalid(None, _("A message must be a JSON object."))
    encoded = orjson.dumps(raw)  # compact UTF-8, as the client sent it
    if check_size and len(encoded) > MAX_MESSAGE_BYTES:
        raise _Invalid(
            None,
            _("The message is larger than %(size)s KB.") % {"size": MAX_MESSAGE_BYTES // 1024},
            code="message_too_large",
        )
    ignored = sorted(set(raw) - MESSAGE_KEYS)
    if ignored:
        raw = {k: v for k, v in raw.items() if k in MESSAGE_KEYS}
    if b"\\u0000" in encoded and (field := nul_path(raw)):  # PostgreSQL stores no NUL
        raise _Invalid(field, _("%(field)s contains a NUL (\\u0000) character.") % {"field": field})
    kind = raw.get("type", implied_type)
    if implied_type and kind != implied_type:
        raise _Invalid("type", _("This endpoint takes %(type)s messages.") % {"type": implied_type})
    if not isinstance(kind, str) or kind not in SUPPORTED_TYPES:
        supported = ", ".join(sorted(SUPPORTED_TYPES))
        raise _Invalid(
            "type",
            _("Unsupported type %(type)s; expected one of %(types)s.")
            % {"type": repr(kind), "types": supported},
        )
    message_id = raw.get("messageId")
    if not isinstance(message_id, str) or not message_id.strip():
        raise _Invalid("messageId", _("messageId is required (it makes ingestion exactly-once)."))
    if len(message_id) > MAX_MESSAGE_ID:
        raise _Invalid("messageId", _too_long("messageId", MAX_MESSAGE_ID))
    user_id, anonymous_id = _id(raw, "userId"), _id(raw, "anonymousId")
    if kind == "alias" and user_id is None:
        raise _Invalid("userId", _("An alias needs the userId it names."), "missing_identity")
    if user_id is None and anonymous_id is None:
        raise _Invalid(
            "userId", _("A message needs a userId or an anonymousId."), "missing_identity"
        )
    for name in ("properties", "traits", "context"):
        if raw.get(name) is not None and not isinstance(raw[name], dict):
            raise _Invalid(name, must_be_object(name))
    properties: dict[str, Any] = dict(raw.get("properties") or {})
    traits: dict[str, Any] = dict(raw.get("traits") or {})
    context: dict[str, Any] = raw.get("context") or {}
    user_hash = context.get("userHash")
    if user_hash is not None and not isinstance(user_hash, str):
        raise _Invalid(SIGNATURE_FIELD, must_be_string(SIGNATURE_FIELD))
    context_traits = context.get("traits")
    if context_traits is not None and not isinstance(context_traits, dict):
        raise _Invalid("context.traits", must_be_object("context.traits"))
    if kind == "identify" and context_traits:
        traits = {**context_traits, **traits}  # RudderStack's clients send them in context
    original = parse_time(raw.get("originalTimestamp"), "originalTimestamp") or parse_time(
        raw.get("timestamp"), "timestamp"
    )
    sent = parse_time(raw.get("sentAt"), "sentAt") or sent_at
    try:
        occurred = received_at - (sent - original) if original and sent else original or received_at
    except OverflowError:  # e.g. sentAt in year 9999 and timestamp in year 1
        raise _Invalid("timestamp", _("timestamp and sentAt are too far apart.")) from None
    message = Message(
        index=index,
        type=IDENTIFY,
        message_id=message_id.strip(),
        user_id=user_id,
        anonymous_id=anonymous_id,
        occurred_at=occurred,
        properties=properties,
        traits=traits,
        time_field="originalTimestamp" if raw.get("originalTimestamp") else "timestamp",
        user_hash=user_hash,
        utm=campaign(context),
        ignored=ignored,
        consent_given=consent_given(context),
    )
    # the person's e-mail: identify's traits, or the user traits any other call carries
    email_field = "traits.email" if kind == "identify" else "context.traits.email"
    email = (traits if kind == "identify" else context_traits or {}).get("email")
    if email is not None and not isinstance(email, str):
        raise _Invalid(email_field, must_be_string(email_field))
    if email is not None:
        message.email = normalize_email(email)
    kept = kept_context(context)  # checked whatever the type: only activities keep it
    if kind == "identify":
        return message
    if kind == "group":
        return _group_message(message, raw)
    if kind == "alias":
        return _alias_message(message, raw)
    message.type = ACTIVITY
    message.traits = {}
    if kind == "track":
        event = raw.get("event")
        if not isinstance(event, str) or not event.strip():
            raise _Invalid("event", _("A track message needs an event name."))
        message.name = event.strip()
        message.kind = EVENT_KINDS.get(message.name.lower(), ActivityKind.CUSTOM)
    else:  # page, screen
        page_name = raw.get("name")
        if page_name is not None and not isinstance(page_name, str):
            raise _Invalid("name", must_be_string("name"))
        message.kind = ActivityKind.PAGE_VIEW if kind == "page" else ActivityKind.SCREEN_VIEW
        fallback = properties.get("url") or properties.get("path") or ""
        message.name = page_name or str(fallback)[:200]
        if isinstance(raw.get("category"), str):
            properties.setdefault("category", raw["category"])
    # last touch and where it happened, on the activity (the sender's own keys win)
    if message.utm:
        properties.setdefault("utm", {k.removeprefix("utm_"): v for k, v in message.utm.items()})
    if kept:
        properties.setdefault("context", kept)
    return message


def _id(raw: dict[str, Any], name: str) -> str | None:
    try:
        value = normalize_id(raw.get(name))
    except ValueError:
        raise _Invalid(
            name, _("%(field)s must be a string or a number.") % {"field": name}
        ) from None
    if value is not None and len(value) > 128:
        raise _Invalid(name, _too_long(name, 128))
    return value


def _too_long(field: str, limit: int) -> str:
    return ngettext(
        "%(field)s is longer than %(count)d character.",
        "%(field)s is longer than %(count)d characters.",
        limit,
    ) % {"field": field, "count": limit}


def _group_message(message: Message, raw: dict[str, Any]) -> Message:
    """group: ``groupId`` (required) and the company's ``traits``."""
    message.type = GROUP
    message.group_id = _id(raw, "groupId")
    if message.group_id is None:
        raise _Invalid("groupId", _("A group message needs a groupId."))
    name = message.traits.get("name")
    if name is not None and not isinstance(name, str):
        raise _Invalid("traits.name", _("traits.name (the company's name) must be a string."))
    return message


def _alias_message(message: Message, raw: dict[str, Any]) -> Message:
    """alias: ``previousId`` (required) becomes the same person as ``userId``."""
    message.type = ALIAS
    message.previous_id = _id(raw, "previousId")
    if message.previous_id is None:
        raise _Invalid("previousId", _("An alias needs a previousId."), "missing_identity")
    message.traits = {}
    return message


def _item_error(index: int, exc: _Invalid) -> ItemError:
    return ItemError(index, exc.code, exc.message, field=exc.field)


def ingest_caller(request: Request) -> Caller:
    """A public key's batch is checked by ``leads.writepolicy``; anyone else's is a server's."""
    key = request_api_key(request)
    if key is None or key.kind != ApiKey.Kind.PUBLIC:
        return SERVER
    return Caller(public=True, identity_secret=key.identity_secret)


def refuse_for_browser(request: Request, messages: list[Message]) -> list[ItemError]:
    """A public key's messages that a browser gate refuses (capture: tracking consent) are
    taken out of ``messages`` and returned as item errors."""
    key = request_api_key(request)
    if key is None or key.kind != ApiKey.Kind.PUBLIC or not messages:
        return []
    refused = browser_refusals(key=key, messages=messages)
    if refused:
        messages[:] = [m for m in messages if m.index not in refused]
    return list(refused.values())


class _SegmentView(BrowserCorsMixin, APIView):  # type: ignore[misc]  # options: HttpResponse
    authentication_classes = [*APIView.authentication_classes, WriteKeyBodyAuthentication]
    permission_classes = [IsAuthenticated, HasPerm.of(Perm.ADD_ACTIVITY)]
    parser_classes = [SegmentParser]
    required_scopes = {"post": Scope.EVENTS_WRITE.value}
    public_keys = True  # the only endpoints a public (browser) key may use
    max_bytes = MAX_BATCH_BYTES

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        # Segment's and Rudder's clients read ``code`` and ``message`` at the top level of an
        # error reply: repeat them there, beside the API's one error shape.
        data = getattr(response, "data", None)
        if response.status_code >= 400 and isinstance(data, dict) and "error" in data:
            response.data = {**data, "code": data["error"]["code"]}
            response.data["message"] = data["error"]["message"]
        return super().finalize_response(request, response, *args, **kwargs)


OUTSIDE_SPEC = gettext_lazy("Not part of the Segment spec: left out.")


def _outside_spec(index: int | None, fields: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {} if index is None else {"index": index}
    message = str(OUTSIDE_SPEC)
    return entry | {"code": "outside_spec", "message": message, "ignored_fields": fields}


def _ignored(messages: Sequence[Message], result: IngestResult) -> list[dict[str, Any]]:
    """The reply's ``ignored``: per message, what of it was not applied, and why."""
    entries = [_outside_spec(m.index, m.ignored) for m in messages if m.ignored]
    entries += [e.as_dict() for e in result.ignored]
    return sorted(entries, key=lambda e: e["index"])


class BatchView(_SegmentView):
    """``POST /v1/batch``: ``{"batch": [...], "sentAt", "writeKey"?}``."""

    @batch_schema
    def post(self, request: Request) -> Response:
        received_at = timezone.now()
        body = request.data
        if not isinstance(body, dict):
            raise ParseError(_("The body must be a JSON object with a batch."), code="invalid")
        batch = body.get("batch")
        if not isinstance(batch, list):
            raise ParseError(_("batch must be a list of messages."), code="invalid")
        try:
            sent_at = parse_time(body.get("sentAt"), "sentAt")
        except _Invalid as exc:
            raise ParseError(exc.message, code="invalid") from None
        messages: list[Message] = []
        errors: list[ItemError] = []
        for index, raw in enumerate(batch):
            try:
                messages.append(to_message(index, raw, received_at=received_at, sent_at=sent_at))
            except _Invalid as exc:
                errors.append(_item_error(index, exc))
        errors += refuse_for_browser(request, messages)
        result = ingest(
            messages=messages, source="segment", now=received_at, caller=ingest_caller(request)
        )
        all_errors = sorted([*errors, *result.errors], key=lambda e: e.index)
        payload: dict[str, Any] = {
            "success": True,
            "stored": result.stored,
            "duplicates": result.duplicates,
            "identified": result.identified,
            "grouped": result.grouped,
            "aliased": result.aliased,
        }
        if all_errors:
            payload["errors"] = [e.as_dict() for e in all_errors]
        # fields outside the spec are left out, never fatal: say which (the envelope's first)
        envelope = sorted(set(body) - ENVELOPE_KEYS)
        ignored = [_outside_spec(None, envelope)] if envelope else []
        if ignored := ignored + _ignored(messages, result):
            payload["ignored"] = ignored
        return Response(payload)


class _SingleView(_SegmentView):
    message_type = ""
    max_bytes = MAX_MESSAGE_BYTES

    @single_schema
    def post(self, request: Request) -> Response:
        received_at = timezone.now()
        raw = request.data
        if isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k != "writeKey"}
        try:
            message = to_message(
                0,
                raw,
                received_at=received_at,
                sent_at=None,
                implied_type=self.message_type,
                check_size=False,  # the body limit is the message limit
            )
        except _Invalid as exc:
            return _bad_request(exc.code, exc.message, exc.field)
        if refused := refuse_for_browser(request, [message]):
            return _bad_request(refused[0].code, refused[0].message, refused[0].field)
        result = ingest(
            messages=[message], source="segment", now=received_at, caller=ingest_caller(request)
        )
        if result.errors:
            error = result.errors[0]
            return _bad_request(error.code, error.message, error.field)
        payload: dict[str, Any] = {
            "success": True,
            "stored": result.stored,
            "duplicates": result.duplicates,
        }
        if ignored := _ignored([message], result):
            payload["ignored"] = ignored
        return Response(payload)


def _bad_request(code: str, message: str, field: str | None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return Response({"error": body}, status=400)


class TrackView(_SingleView):
    message_type = "track"


class IdentifyView(_SingleView):
    message_type = "identify"


class PageView(_SingleView):
    message_type = "page"


class ScreenView(_SingleView):
    message_type = "screen"


class GroupView(_SingleView):
    message_type = "group"


class AliasView(_SingleView):
    message_type = "alias"

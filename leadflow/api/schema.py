"""The OpenAPI schema describes every answer an operation can give, errors included.

Every API error has one shape (leadflow/api/exceptions.py); each operation documents the error
statuses it can return with that shape, so a client (and Schemathesis' status-code and response
checks) can rely on the schema for 4xx answers as well as for 2xx ones:

- 401 (no or a bad credential), 403 (no permission or scope), 429 (rate limit): every operation;
- 400 (invalid fields): operations that take a body or query parameters;
- 415 (a body in a media type the operation does not parse): operations that take a body;
- 404 (no such row, or a bad cursor): operations with an id in the path, lists and writes;
- 409 (a business rule or a row still in use refused it): every write.
"""

from typing import Any

from drf_spectacular import openapi
from rest_framework import serializers

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DESCRIPTIONS = {
    "400": "Invalid fields: `error.fields` names each field with its reasons",
    "401": "No credentials, or an unknown or revoked API key",
    "403": "The user lacks the permission, or the API key the scope",
    "404": "No such row, or not visible to the caller",
    "409": "Refused by a business rule, or the row is still in use (`error.in_use`)",
    "415": "The body's Content-Type is not one the operation parses",
    "429": "Over the rate limit (see Retry-After)",
}


class InUseSerializer(serializers.Serializer[dict[str, Any]]):
    model = serializers.CharField(help_text="app_label.model of the rows that still use it")
    name = serializers.CharField(help_text="their human-readable name")
    count = serializers.IntegerField()


class ErrorDetailSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField(help_text="stable, e.g. invalid, not_found, in_use")
    message = serializers.CharField()
    field = serializers.CharField(required=False, help_text="the one field at fault")
    # "fields" is the wire name; DRF takes declared fields off the class, so nothing is shadowed
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="field name -> list of reasons (code invalid)"
    )
    in_use = InUseSerializer(
        many=True, required=False, help_text="what still uses the row (code in_use)"
    )


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    error = ErrorDetailSerializer()


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        params = operation.get("parameters", [])
        codes = {"401", "403", "429"}
        if "requestBody" in operation:
            codes |= {"400", "415"}
        if any(p.get("in") == "query" for p in params):
            codes.add("400")
        listed = any(p.get("name") == "cursor" for p in params)
        if listed or self.method not in SAFE_METHODS or any(p.get("in") == "path" for p in params):
            codes.add("404")
        if self.method not in SAFE_METHODS:
            codes.add("409")
        responses: dict[str, Any] = operation["responses"]
        for code in sorted(codes):
            responses.setdefault(code, {"description": DESCRIPTIONS[code]})
        for code, response in responses.items():
            if code.startswith("4") and "content" not in response:
                body = self._get_response_for_code(ErrorSerializer, code)  # type: ignore[no-untyped-call]
                response["content"] = body["content"]
        return operation

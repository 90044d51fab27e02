"""Custom field values: what each type accepts, how it is stored, who sees and edits which field.

One place for the checks that the lead forms, the REST API, CSV imports and Segment trait
mappings share. A clean value is JSON: text/long text/URL/e-mail/single choice a string,
integer an int, decimal and money a decimal string ("1250.50", the money field's currency is
the field's), date "YYYY-MM-DD", datetime ISO 8601 in UTC ("2026-12-05T09:30:00Z"), yes/no a
bool, multiple choice a list of choice values, user a user id. Text forms sort as the values do
(ISO dates), so one expression index serves equality and ranges.
"""

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import connection
from django.db.models import Expression, FloatField, Q, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Lower
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from leadflow.roles import Role
from leads.models import CustomField, FieldType

# no "__": filters name ranges as cf_<key>__min
KEY_RE: Final = re.compile(r"^(?=.{1,40}$)[a-z](?:_?[a-z0-9])*$")
MAX_TEXT: Final = 255
MAX_LONG_TEXT: Final = 10_000
MAX_DIGITS: Final = 18  # decimals and money: digits in all, two of them after the point for money
EMPTY: Final[tuple[Any, ...]] = (None, "", [])
TRUE_WORDS: Final = frozenset({"true", "yes", "y", "1", "on", "ja", "igen", "ano"})
FALSE_WORDS: Final = frozenset({"false", "no", "n", "0", "off", "nej", "nein", "nem", "ne"})

# What each type expects, as error messages name it ("expected a whole number, got 'x'.");
# text types by ``expected``, which says how long.
_EXPECTED: Final[dict[str, Promise]] = {
    FieldType.INTEGER: gettext_lazy("a whole number"),
    FieldType.DECIMAL: gettext_lazy("a number"),
    FieldType.MONEY: gettext_lazy("an amount (a number with at most two decimals)"),
    FieldType.DATE: gettext_lazy("a date (YYYY-MM-DD)"),
    FieldType.DATETIME: gettext_lazy("a date and time (ISO 8601, e.g. 2026-12-05T09:30:00+01:00)"),
    # Translators: what a yes/no field accepts; true/false are the JSON values, keep them
    FieldType.BOOLEAN: gettext_lazy("yes or no (true/false)"),
    FieldType.CHOICE: gettext_lazy("one of the field's choices"),
    FieldType.MULTI_CHOICE: gettext_lazy("a list of the field's choices"),
    FieldType.URL: gettext_lazy("a web address (http:// or https://)"),
    FieldType.EMAIL: gettext_lazy("an e-mail address"),
    FieldType.USER: gettext_lazy("the id of an active user"),
}


def expected(kind: str) -> str:
    """What a value of type ``kind`` must be, in the active language: "a whole number"."""
    if kind in (FieldType.TEXT, FieldType.LONG_TEXT):
        limit = MAX_TEXT if kind == FieldType.TEXT else MAX_LONG_TEXT
        return ngettext(
            "text of at most %(count)d character", "text of at most %(count)d characters", limit
        ) % {"count": limit}
    return str(_EXPECTED[kind])


NUMERIC: Final = frozenset({FieldType.INTEGER, FieldType.DECIMAL, FieldType.MONEY})
ORDERED: Final = NUMERIC | {FieldType.DATE, FieldType.DATETIME}
TEXTUAL: Final = frozenset({FieldType.TEXT, FieldType.URL, FieldType.EMAIL})
# types whose filters compare one expression (filter_expression), which a filterable field
# indexes; yes/no and multiple choice filter by containment, which the GIN index serves
INDEXED: Final = TEXTUAL | ORDERED | {FieldType.CHOICE, FieldType.USER}


def filter_expression(field: "CustomField") -> Expression:
    """The expression filters compare and a filterable field's index is built on (the two
    must render the same SQL for PostgreSQL to use the index)."""
    text = KT(f"custom__{field.key}")
    if field.type in TEXTUAL:
        return Lower(text)
    if field.type in NUMERIC:
        return Cast(text, output_field=FloatField())
    # a plain text column to compare (KT's own lookups would read the values as JSON on SQLite)
    return Cast(text, output_field=TextField())


def holds_q(field: "CustomField", value: Any, prefix: str = "") -> Q:
    """Leads (or rows reaching a lead through ``prefix``, e.g. "lead__") whose ``field`` holds
    the clean ``value`` (a multiple choice: among its values).
    PostgreSQL: containment, which the GIN index on ``custom`` answers for every field. SQLite
    has no containment: it compares the stored JSON text."""
    stored = [value] if field.type == FieldType.MULTI_CHOICE else value
    if connection.vendor == "postgresql":
        return Q(**{f"{prefix}custom__contains": {field.key: stored}})
    if field.type == FieldType.MULTI_CHOICE:  # the array's JSON text holds '"value"'
        return Q(**{f"{prefix}custom__{field.key}__icontains": json.dumps(value)})
    return Q(**{f"{prefix}custom__{field.key}": stored})


class FieldValueError(ValueError):
    """A raw value the field's type cannot take; the message says what was expected."""


def field_error(field: CustomField, message: str) -> ValidationError:
    return ValidationError({f"custom.{field.key}": f"{field.label}: {message}"})


def _expected(field: CustomField, raw: Any) -> FieldValueError:
    shown = repr(raw) if not isinstance(raw, str) or len(raw) <= 60 else repr(raw[:60] + "…")
    # Translators: expected: what the field's type takes ("a whole number"); value: what came
    message = _("expected %(expected)s, got %(value)s.")
    return FieldValueError(message % {"expected": expected(field.type), "value": shown})


def _choice_values(field: CustomField) -> dict[str, str]:
    """value -> value, and lower-cased label -> value (imports and forms may send either)."""
    out: dict[str, str] = {}
    for choice in field.choices:
        value = str(choice["value"])
        out[value] = value
        out.setdefault(str(choice.get("label", value)).strip().lower(), value)
    return out


def _choice(field: CustomField, raw: Any, values: Mapping[str, str]) -> str:
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise _expected(field, raw)
    text = str(raw).strip()
    found = values.get(text) or values.get(text.lower())
    if found is None:
        offered = ", ".join(str(c["value"]) for c in field.choices)
        raise FieldValueError(
            _("%(value)s is not one of its choices (%(choices)s).")
            % {"value": repr(text), "choices": offered}
        )
    return found


def _decimal(field: CustomField, raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise _expected(field, raw)
    try:
        number = Decimal(str(raw).strip().replace(" ", ""))
    except InvalidOperation:
        raise _expected(field, raw) from None
    if not number.is_finite():
        raise _expected(field, raw)
    if len(number.as_tuple().digits) > MAX_DIGITS:
        raise FieldValueError(
            ngettext(
                "at most %(count)d digit, got %(value)s.",
                "at most %(count)d digits, got %(value)s.",
                MAX_DIGITS,
            )
            % {"count": MAX_DIGITS, "value": repr(raw)}
        )
    return number


def clean_value(field: CustomField, raw: Any) -> Any:
    """The stored form of ``raw`` for ``field``, None for empty; FieldValueError otherwise."""
    if isinstance(raw, str):
        raw = raw.strip() if field.type != FieldType.LONG_TEXT else raw
    if raw in EMPTY:
        return None
    kind = field.type
    if kind in (FieldType.TEXT, FieldType.LONG_TEXT):
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise _expected(field, raw)
        text = str(raw)
        limit = MAX_TEXT if kind == FieldType.TEXT else MAX_LONG_TEXT
        if len(text) > limit or "\x00" in text:
            raise _expected(field, raw)
        return text
    if kind == FieldType.INTEGER:
        if isinstance(raw, bool):
            raise _expected(field, raw)
        number = _decimal(field, raw)
        if number != number.to_integral_value() or abs(number) >= 10**MAX_DIGITS:
            raise _expected(field, raw)
        return int(number)
    if kind in (FieldType.DECIMAL, FieldType.MONEY):
        number = _decimal(field, raw)
        if kind == FieldType.MONEY:
            if number != number.quantize(Decimal("0.01")):
                raise _expected(field, raw)
            number = number.quantize(Decimal("0.01"))
        return format(number.normalize() if kind == FieldType.DECIMAL else number, "f")
    if kind == FieldType.DATE:
        parsed = raw if isinstance(raw, date) and not isinstance(raw, datetime) else None
        if parsed is None and isinstance(raw, str):
            try:
                parsed = parse_date(raw)
            except ValueError:
                parsed = None
        if parsed is None:
            raise _expected(field, raw)
        return parsed.isoformat()
    if kind == FieldType.DATETIME:
        moment = raw if isinstance(raw, datetime) else None
        if moment is None and isinstance(raw, str):
            try:
                moment = parse_datetime(raw)
            except ValueError:
                moment = None
        if moment is None:
            raise _expected(field, raw)
        if moment.tzinfo is None:  # as Django's forms read it: in the active time zone
            moment = timezone.make_aware(moment)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == FieldType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower() if isinstance(raw, str | int) else None
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise _expected(field, raw)
    if kind == FieldType.CHOICE:
        return _choice(field, raw, _choice_values(field))
    if kind == FieldType.MULTI_CHOICE:
        items = raw.split(";") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            raise _expected(field, raw)
        values = _choice_values(field)
        picked = {_choice(field, item, values) for item in items if str(item).strip()}
        order = [str(c["value"]) for c in field.choices]
        return [v for v in order if v in picked] or None
    if kind in (FieldType.URL, FieldType.EMAIL):
        if not isinstance(raw, str) or len(raw) > MAX_TEXT:
            raise _expected(field, raw)
        check = URLValidator(schemes=["http", "https"]) if kind == FieldType.URL else None
        try:
            (check or EmailValidator())(raw)
        except ValidationError:
            raise _expected(field, raw) from None
        return raw.lower() if kind == FieldType.EMAIL else raw
    if kind == FieldType.USER:
        if isinstance(raw, bool) or not (
            isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit())
        ):
            raise _expected(field, raw)
        if not get_user_model().objects.filter(pk=int(raw), is_active=True).exists():
            raise FieldValueError(_("there is no active user with id %(id)s.") % {"id": raw})
        return int(raw)
    raise FieldValueError(  # pragma: no cover
        _("unknown field type %(type)s.") % {"type": repr(kind)}
    )


def clean_custom(
    raw: Any,
    *,
    fields: Mapping[str, CustomField],
    creating: bool,
    enforce_required: bool = True,
) -> dict[str, Any]:
    """Check a ``custom`` object ({key: raw value}) against ``fields`` (by key).

    Returns {key: clean value or None (clear it)}; on create, defaults fill what is missing and
    empties are left out. ValidationError names every bad key at once: unknown keys, values of
    the wrong type, a required field left empty (unless ``enforce_required`` is off: anonymous
    ingestion may not know it yet)."""
    if not isinstance(raw, Mapping):
        raise ValidationError({"custom": _('Must be a JSON object, e.g. {"erp": "sap"}.')})
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        field = fields.get(str(key))
        if field is None:
            errors[f"custom.{key}"] = _unknown(key, fields)
            continue
        try:
            out[field.key] = clean_value(field, value)
        except FieldValueError as exc:
            errors[f"custom.{field.key}"] = f"{field.label}: {exc}"
    if creating:
        for field in fields.values():
            if out.get(field.key) is None and field.default is not None:
                out[field.key] = field.default
        out = {k: v for k, v in out.items() if v is not None}
    if enforce_required:
        for field in fields.values():
            missing = out.get(field.key) is None if creating or field.key in out else False
            if field.required and missing and f"custom.{field.key}" not in errors:
                errors[f"custom.{field.key}"] = _("%(label)s: this field is required.") % {
                    "label": field.label
                }
    if errors:
        raise ValidationError(errors)
    return out


def _unknown(key: object, fields: Mapping[str, CustomField]) -> str:
    if not fields:
        return _("Unknown custom field %(key)s; the lead's custom fields are none yet.") % {
            "key": repr(key)
        }
    return _("Unknown custom field %(key)s; the lead's custom fields are %(fields)s.") % {
        "key": repr(key),
        "fields": ", ".join(sorted(fields)),
    }


def merged(current: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with ``changes`` applied (None removes a key)."""
    out = dict(current or {})
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def lead_fields() -> dict[str, CustomField]:
    """The lead's custom fields by key, in their display order."""
    return {f.key: f for f in CustomField.objects.filter(entity=CustomField.Entity.LEAD)}


def _memo(user: Any, name: str, compute: Any) -> Any:
    """``compute()`` once per user object, i.e. once per request: a board asks for the
    fields and the viewer's roles for its filters, cards and columns."""
    if user is None:
        return compute()
    attr = f"_customfields_{name}"
    if not hasattr(user, attr):
        setattr(user, attr, compute())
    return getattr(user, attr)


def _roles(user: Any) -> set[str]:
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    if user.is_superuser:
        return {Role.ADMIN.value}
    return set(_memo(user, "roles", lambda: set(user.groups.values_list("name", flat=True))))


def _allowed(field_roles: Iterable[str], user_roles: set[str]) -> bool:
    roles = set(field_roles)
    return not roles or Role.ADMIN.value in user_roles or bool(roles & user_roles)


def visible_fields(user: Any, fields: Mapping[str, CustomField] | None = None) -> list[CustomField]:
    """The custom fields ``user`` may see, in order."""
    roles = _roles(user)
    fields = fields or _memo(user, "fields", lead_fields)
    return [f for f in fields.values() if _allowed(f.visible_to, roles)]


def editable_fields(
    user: Any, fields: Mapping[str, CustomField] | None = None
) -> list[CustomField]:
    """The custom fields ``user`` may change (a field one may not see, one may not edit)."""
    roles = _roles(user)
    fields = fields or _memo(user, "fields", lead_fields)
    return [
        f
        for f in fields.values()
        if _allowed(f.visible_to, roles) and _allowed(f.editable_by, roles)
    ]


def check_editable(user: Any, keys: Iterable[str], fields: Mapping[str, CustomField]) -> None:
    """ValidationError naming each key in ``keys`` that ``user`` may not change."""
    allowed = {f.key for f in editable_fields(user, fields)}
    refused = sorted(k for k in keys if k in fields and k not in allowed)
    if refused:
        raise ValidationError(
            {f"custom.{k}": _("Your role may not change this field.") for k in refused}
        )


def display(field: CustomField, value: Any) -> str:
    """A stored value as pages and CSV exports show it."""
    if value in EMPTY:
        return ""
    if field.type == FieldType.BOOLEAN:
        return _yes_no(value)
    if field.type == FieldType.CHOICE:
        return field.choice_label(value)
    if field.type == FieldType.MULTI_CHOICE and isinstance(value, list):
        return "; ".join(field.choice_label(v) for v in value)
    if field.type == FieldType.MONEY:
        return f"{value} {field.currency}".strip()
    if field.type == FieldType.USER:
        user = get_user_model().objects.filter(pk=value).first()
        return str(user) if user is not None else _("user %(id)s") % {"id": value}
    return str(value)


def _yes_no(value: Any) -> str:
    # Translators: a yes/no field's value on pages and in CSV exports; an import reads
    # yes/ja/igen/ano back, so keep one of these words
    yes = _("Yes")
    # Translators: a yes/no field's value on pages and in CSV exports; an import reads
    # no/nej/nein/nem/ne back, so keep one of these words
    no = _("No")
    return yes if value else no


GROUPABLE: Final = frozenset({FieldType.CHOICE, FieldType.MULTI_CHOICE, FieldType.BOOLEAN})


def group_values(field: CustomField) -> list[tuple[Any, str]]:
    """(clean value, label) of each group a report splits ``field`` into."""
    if field.type == FieldType.BOOLEAN:
        return [(True, _yes_no(True)), (False, _yes_no(False))]
    return [(c["value"], c["label"]) for c in field.choices]


class Display:
    """``display`` for a page or export of many leads: each user a user field names is read
    once, not once a lead."""

    def __init__(self) -> None:
        self._users: dict[Any, str] = {}

    def __call__(self, field: CustomField, value: Any) -> str:
        if field.type != FieldType.USER or value in EMPTY:
            return display(field, value)
        if value not in self._users:
            self._users[value] = display(field, value)
        return self._users[value]

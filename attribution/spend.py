"""Campaign spend: imported (API, ``manage.py import_spend``) all or nothing with every bad row
named, or entered in Settings; and a period's spend per group, for the ROI report."""

import calendar
import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from attribution.channels import Grouping
from attribution.models import Spend, known_tags
from attribution.selectors import group_labels
from leadflow.audit import audit_record
from leadflow.models import User
from leads import money

FIELDS = ("month", "source", "medium", "campaign", "amount", "currency")
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-\d{2})?$")
MAX_ROWS = 5000


def spend_month(value: Any) -> date:
    match = _MONTH.match(str(value or "").strip())
    if match is None or not 1 <= int(match[2]) <= 12:
        raise ValidationError(_("A month as YYYY-MM, e.g. 2026-03."), code="month")
    return date(int(match[1]), int(match[2]), 1)


def _row(data: Any) -> Spend:
    if not isinstance(data, Mapping):
        raise ValidationError({"row": _('Each row is an object: {"month": "2026-03", …}.')})
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: _("Unknown field; fields: %(fields)s.")
                               % {"fields": ", ".join(FIELDS)}})  # fmt: skip
    texts = {}
    for name in ("source", "medium", "campaign", "currency"):
        value = data.get(name) or ""
        if not isinstance(value, str) or len(value) > 200:
            raise ValidationError({name: _("Text of at most 200 characters.")})
        texts[name] = value
    amount = money.amount(data.get("amount"), field="amount")
    if amount is None:
        raise ValidationError({"amount": _("This field is required.")})
    try:
        month = spend_month(data.get("month"))
    except ValidationError as exc:
        raise ValidationError({"month": exc.messages}) from None
    return Spend(month=month, amount=amount, **texts)


@transaction.atomic
def spend_import(*, rows: Sequence[Any], actor: User | None, request: Any = None) -> int:
    """Store spend rows (a row for a month and tags already held replaces its amount). All or
    nothing: a ValidationError keyed ``rows[i].field`` names every bad row (at most 20)."""
    if not isinstance(rows, list | tuple) or not rows:
        raise ValidationError({"rows": _("Send a non-empty list of rows.")})
    if len(rows) > MAX_ROWS:
        raise ValidationError(
            {"rows": _("At most %(max)s rows at a time.") % {"max": f"{MAX_ROWS:,}"}}
        )
    errors: dict[str, list[str]] = {}
    parsed: list[tuple[int, Spend]] = []
    for i, data in enumerate(rows):
        try:
            parsed.append((i, _row(data)))
        except ValidationError as exc:
            errors.update(_named(i, exc))
    known = known_tags([spend for _i, spend in parsed])
    seen: dict[tuple[Any, ...], int] = {}
    for i, spend in parsed:
        spend.known = known  # one scan of the touches for every row
        try:
            spend.clean_fields()
            spend.clean()
        except ValidationError as exc:
            errors.update(_named(i, exc))
            continue
        key = (spend.month, spend.source, spend.medium, spend.campaign)
        if key in seen:
            errors[f"rows[{i}].campaign"] = [
                _("The same month and tags as row %(row)s.") % {"row": seen[key]}
            ]
        seen[key] = i
    if errors:
        raise ValidationError(dict(list(errors.items())[:20]))
    Spend.objects.bulk_create(
        [spend for _i, spend in parsed],
        update_conflicts=True,
        unique_fields=["month", "source", "medium", "campaign"],
        update_fields=["amount", "currency", "updated_at"],
    )
    audit_record(
        action="spend.import", actor=actor, target_type="attribution.spend",
        details={"rows": len(parsed)}, request=request,
    )  # fmt: skip
    return len(parsed)


def _named(i: int, exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {f"rows[{i}].{field}": msgs for field, msgs in exc.message_dict.items()}
    return {f"rows[{i}]": exc.messages}


def _overlap(month: date, start: date | None, end: date | None) -> Decimal:
    """The share of ``month`` inside [start, end): spend is spread evenly over its days."""
    days = calendar.monthrange(month.year, month.month)[1]
    first = month.toordinal()
    lo = max(first, start.toordinal()) if start else first
    hi = min(first + days, end.toordinal()) if end else first + days
    return Decimal(max(hi - lo, 0)) / days


def spend_by(*, by: str, start: date | None, end: date | None) -> dict[tuple[str, ...], int]:
    """Spend in the reporting currency, in cents, per group (as ``credits_by`` labels them) over
    the days [start, end): a month partly inside counts for the share of its days inside."""
    rows = Spend.objects.all()
    if start is not None:
        rows = rows.filter(month__gte=start.replace(day=1))
    if end is not None:
        rows = rows.filter(month__lt=end)
    rates = money.rates()
    grouping = Grouping()
    out: dict[tuple[str, ...], int] = {}
    for spend in rows.order_by():
        rate = rates.get(spend.currency)
        share = _overlap(spend.month, start, end)
        if rate is None or not share:
            continue
        tags = (spend.source, spend.medium, spend.campaign)
        labels = group_labels(by, tags, grouping)
        cents = int((spend.amount * rate * share * 100).to_integral_value())
        out[labels] = out.get(labels, 0) + cents
    return out

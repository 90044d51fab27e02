"""Deal money: which currencies a deal may be in, and the one conversion every report uses.

A lead's ``expected_value`` and ``deal_value`` are in its ``currency`` ("" = the reporting
currency, ``settings.LEADFLOW_CURRENCY``). Reports total in the reporting currency, converting
at the rate Settings › Exchange rates holds now (``ExchangeRate``): a changed rate restates every
report, as in HubSpot and Salesforce without dated rates. A deal may only be in the reporting
currency or in one that has a rate, so no report has a value it cannot convert.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Case, DecimalField, F, Q, Value, When
from django.db.models.expressions import Combinable
from django.utils.translation import gettext as _

from leadflow.validators import currency_code
from leads.models import ExchangeRate, Lead, Win


def reporting_currency() -> str:
    return str(settings.LEADFLOW_CURRENCY)


def iso_currency(code: Any, *, field: str = "currency") -> str:
    """``code`` as an ISO 4217 code (upper case); a ValidationError naming ``field`` if it is
    not one."""
    text = str(code or "").strip().upper()
    try:
        currency_code(text)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None
    return text


def deal_currency(code: Any) -> str:
    """The currency a deal may be stored in: "" for the reporting currency (or none given),
    else an ISO code that has an exchange rate."""
    if code in (None, ""):
        return ""
    text = iso_currency(code)
    if text == reporting_currency():
        return ""
    if not ExchangeRate.objects.filter(currency=text).exists():
        raise ValidationError(
            {"currency": _(
                "There is no exchange rate for %(code)s into %(base)s: an admin or manager adds "
                "one in Settings › Exchange rates."
            ) % {"code": text, "base": reporting_currency()}}
        )  # fmt: skip
    return text


def deal_currencies() -> list[str]:
    """The currencies a deal may be in: the reporting currency first, then those with a rate."""
    held = ExchangeRate.objects.order_by("currency").values_list("currency", flat=True)
    return [reporting_currency(), *held]


def amount(value: Any, *, field: str) -> Decimal | None:
    """A money amount: None, or a non-negative decimal with at most 2 places and 12 digits
    before the point; a ValidationError naming ``field`` otherwise."""
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        number = Decimal("NaN")
    if not number.is_finite():
        raise ValidationError({field: _("Enter a number, e.g. 12500.00.")})
    if number < 0:
        raise ValidationError({field: _("An amount cannot be negative.")})
    if number != number.quantize(Decimal("0.01")) or number >= Decimal(10) ** 12:
        raise ValidationError(
            {field: _("At most 12 digits before the decimal point and 2 after it.")}
        )
    return number.quantize(Decimal("0.01"))


def rates() -> dict[str, Decimal]:
    """Every currency's rate, the reporting currency's (1) and "" (1) included."""
    held = dict(ExchangeRate.objects.values_list("currency", "rate"))
    return {**held, "": Decimal(1), reporting_currency(): Decimal(1)}


def converted(value: str, currency: str) -> Case:
    """``value`` (a field path) in the reporting currency, as a database expression; NULL where
    the value is NULL (or, should a rate be gone, where its currency has none)."""
    output: DecimalField[Any, Any] = DecimalField(max_digits=26, decimal_places=10)
    whens = [
        When(Q(**{currency: code}), then=_times(F(value), rate, output))
        for code, rate in sorted(rates().items())
    ]
    return Case(*whens, default=Value(None), output_field=output)


def converted_sql(value: str, currency: str) -> tuple[str, list[Any]]:
    """``converted`` for hand-written SQL: (a CASE over the currency column, its parameters)."""
    whens, params = [], []
    for code, rate in sorted(rates().items()):
        whens.append(f"WHEN %s THEN {value} * %s")
        params += [code, rate]
    return f"(CASE {currency} {' '.join(whens)} ELSE NULL END)", params


def _times(field: Combinable, rate: Decimal, output: DecimalField[Any, Any]) -> Any:
    if rate == 1:
        return field
    return field * Value(rate, output_field=output)


def in_reporting(value: Decimal | None, currency: str, held: dict[str, Decimal]) -> Decimal:
    """One value in the reporting currency at the rates ``held`` (``rates()``); 0 for none."""
    if value is None or currency not in held:
        return Decimal(0)
    return (value * held[currency]).quantize(Decimal("0.01"))


def lifetime_value(lead: Lead, wins: Iterable[Win]) -> Decimal:
    """The first win (``deal_value``) and the repeat ``wins``, in the reporting currency."""
    held = rates()
    return in_reporting(lead.deal_value, lead.currency, held) + sum(
        (in_reporting(w.value, w.currency, held) for w in wins), Decimal(0)
    )

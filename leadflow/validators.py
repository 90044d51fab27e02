"""Validators every input path shares."""

from typing import Any

import pycountry
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def nul_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string holding a NUL character, if any.

    PostgreSQL stores no NUL in ``text`` or ``jsonb`` (it raises instead), so free-form JSON is
    checked before it reaches the database; Django's and DRF's text fields check themselves."""
    if isinstance(value, str):
        return (path or "value") if "\x00" in value else None
    if not isinstance(value, dict | list):
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if "\x00" in str(key):
            return where
        if found := nul_path(item, where):
            return found
    return None


def reject_nul(value: Any) -> None:
    """Field validator for free-form JSON: names where the NUL is."""
    if (where := nul_path(value)) is not None:
        raise ValidationError(
            f"{where!r} contains a NUL (\\u0000) character.", code="null_characters"
        )


def currency_code(value: Any) -> None:
    """Field validator: an ISO 4217 currency code, upper case (HUF, DKK, CZK, EUR, ...)."""
    text = str(value or "")
    if len(text) != 3 or not text.isupper() or pycountry.currencies.get(alpha_3=text) is None:
        raise ValidationError(
            _("'%(code)s' is not an ISO 4217 currency code (e.g. EUR, HUF, DKK, CZK).")
            % {"code": text[:20]},
            code="currency",
        )

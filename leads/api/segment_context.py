"""What Segment ingestion reads from a message's ``context``: the campaign (UTM tags), and the
page, IP, user agent, locale and referrer that it keeps on the activity.

Pure functions of the wire message; each bad value is an ``InvalidField`` naming its path.
"""

import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from leadflow.client_ip import kept_ip


class InvalidField(Exception):  # noqa: N818  (one bad message; becomes an ItemError)
    def __init__(self, field: str | None, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.field, self.message, self.code = field, message, code


# context.campaign key -> the lead's UTM field (Segment names the campaign ``name``)
CAMPAIGN_FIELDS: dict[str, str] = {
    "source": "utm_source",
    "medium": "utm_medium",
    "name": "utm_campaign",
    "term": "utm_term",
    "content": "utm_content",
}
# context keys kept on the activity as they are (``ip`` is kept as LEADFLOW_INGEST_IP says)
KEPT_CONTEXT = ("page", "userAgent", "locale", "referrer")
UTM_MAX = 200  # the lead's UTM columns
_READ = frozenset({*KEPT_CONTEXT, "ip"})


def must_be_object(field: str) -> str:
    """The error of a message field that is not a JSON object."""
    return _("%(field)s must be an object.") % {"field": field}


def must_be_string(field: str) -> str:
    """The error of a message field that is not a string."""
    return _("%(field)s must be a string.") % {"field": field}


def campaign(context: Mapping[str, Any]) -> dict[str, str]:
    """``context.campaign`` as UTM fields (``utm_source`` …), empty values left out."""
    raw = context.get("campaign")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidField("context.campaign", must_be_object("context.campaign"))
    utm: dict[str, str] = {}
    for key, column in CAMPAIGN_FIELDS.items():
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidField(f"context.campaign.{key}", must_be_string(f"context.campaign.{key}"))
        text = str(value).strip()[:UTM_MAX]
        if text:
            utm[column] = text
    return utm


def kept_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of ``context`` an activity keeps: page, ip (per LEADFLOW_INGEST_IP),
    userAgent, locale, referrer."""
    if not context.keys() & _READ:  # most server-side messages: only ``library``
        return {}
    kept = {key: context[key] for key in KEPT_CONTEXT if context.get(key) is not None}
    for key in ("page", "referrer"):
        if key in kept and not isinstance(kept[key], dict):
            raise InvalidField(f"context.{key}", must_be_object(f"context.{key}"))
    for key in ("userAgent", "locale"):
        if key in kept and not isinstance(kept[key], str):
            raise InvalidField(f"context.{key}", must_be_string(f"context.{key}"))
    ip = stored_ip(context.get("ip"))
    if ip:
        kept["ip"] = ip
    return kept


def stored_ip(value: Any) -> str | None:
    """``context.ip`` as LEADFLOW_INGEST_IP keeps it: not at all, truncated (IPv4 /24, IPv6
    /48) or whole. A value that is not an IP address is refused, whatever the setting."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidField("context.ip", must_be_string("context.ip"))
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidField(
            "context.ip", _("%(value)s is not an IP address.") % {"value": repr(value[:60])}
        ) from None
    return kept_ip(address, settings.LEADFLOW_INGEST_IP)


def consent_given(context: Mapping[str, Any]) -> bool:
    """Whether a browser SDK's message says the visitor consented to tracking:
    analytics-next's consent wrappers put ``context.consent.categoryPreferences`` ({category:
    bool}; any true), RudderStack's consent management ``context.consentManagement
    .allowedConsentIds`` (a non-empty list). Anything else, or a malformed value: no."""
    consent = context.get("consent")
    if isinstance(consent, dict):
        preferences = consent.get("categoryPreferences")
        if isinstance(preferences, dict) and any(v is True for v in preferences.values()):
            return True
    management = context.get("consentManagement")
    if isinstance(management, dict):
        allowed = management.get("allowedConsentIds")
        if isinstance(allowed, list) and any(isinstance(a, str) and a for a in allowed):
            return True
        # RudderStack's older shape: {"allowedConsentIds": {"id": "name", ...}}
        if isinstance(allowed, dict) and allowed:
            return True
    return False

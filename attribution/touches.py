"""Which activities are touches, and what channel tags each carries. Pure functions.

A touch is a moment a channel brought the person to us:
- an activity with UTM tags: Segment's ``context.campaign`` (kept as ``properties.utm``),
  ``utm_*`` keys in its properties, or ``utm_*`` parameters in its page URL;
- an e-mail click (an open is not: mail privacy proxies open every message);
- a page view or form submission that came from another site (its referrer): the referring
  host is the source, medium ``referral`` (``organic`` for a search engine's);
- the lead's creation, with the lead's own first-touch tags (``utm_*``, else its source —
  the import source or the capture form's): every lead has this one, at its creation, its
  first stage change or its first activity, whichever is earliest (imports and backdated
  events carry history older than the row).
Other activities (a page view within the site, a download, a meeting) are not touches.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from leads.models import ActivityKind

TAG_MAX: Final = 200


class Kind:
    CREATED = "created"
    CAMPAIGN = "campaign"
    EMAIL = "email"
    FORM = "form"
    REFERRAL = "referral"


# the activity kinds that may be touches without UTM tags (the rest need tags)
MAYBE_TOUCH: Final = (
    ActivityKind.PAGE_VIEW,
    ActivityKind.SCREEN_VIEW,
    ActivityKind.FORM_SUBMIT,
    ActivityKind.EMAIL_CLICK,
)
SEARCH_HOSTS: Final = (
    "google.", "bing.", "yahoo.", "duckduckgo.", "ecosia.", "baidu.", "yandex.", "seznam.",
)  # fmt: skip


_KIND_OF: Final[dict[str, str]] = {
    ActivityKind.EMAIL_CLICK: Kind.EMAIL,
    ActivityKind.FORM_SUBMIT: Kind.FORM,
}


@dataclass(frozen=True)
class Tags:
    kind: str
    source: str
    medium: str = ""
    campaign: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.medium, self.campaign)


def _text(value: Any) -> str:
    return str(value).strip()[:TAG_MAX] if isinstance(value, str | int | float) else ""


def _url(properties: Mapping[str, Any]) -> str:
    context = properties.get("context")
    page = context.get("page") if isinstance(context, dict) else None
    for candidate in (
        properties.get("url"),
        properties.get("page"),  # a capture form's page URL
        page.get("url") if isinstance(page, dict) else None,
    ):
        if isinstance(candidate, str) and candidate:
            return candidate
    return ""


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _referrer(properties: Mapping[str, Any]) -> str:
    context = _object(properties.get("context"))
    page, referrer = _object(context.get("page")), _object(context.get("referrer"))
    for candidate in (properties.get("referrer"), page.get("referrer"), referrer.get("url")):
        if isinstance(candidate, str) and candidate:
            return candidate
    return ""


def _host(url: str) -> str:
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _utm(properties: Mapping[str, Any], url: str) -> dict[str, str]:
    """source, medium, campaign from ``properties.utm`` (Segment), else ``utm_*`` properties,
    else the page URL's query."""
    nested = properties.get("utm")
    if isinstance(nested, dict):
        tags = {
            "source": _text(nested.get("source")),
            "medium": _text(nested.get("medium")),
            "campaign": _text(nested.get("campaign") or nested.get("name")),
        }
        if any(tags.values()):
            return tags
    flat = {k: _text(properties.get(f"utm_{k}")) for k in ("source", "medium", "campaign")}
    if any(flat.values()):
        return flat
    if "utm_" in url:
        try:
            query = parse_qs(urlsplit(url).query)
        except ValueError:
            return {}
        return {
            k: _text((query.get(f"utm_{k}") or [""])[0]) for k in ("source", "medium", "campaign")
        }
    return {}


def activity_tags(kind: str, properties: Any) -> Tags | None:
    """The channel tags of an activity, or None when it is not a touch."""
    props: Mapping[str, Any] = properties if isinstance(properties, dict) else {}
    url = _url(props)
    utm = _utm(props, url)
    touch_kind = _KIND_OF.get(kind, Kind.CAMPAIGN)
    if utm:
        return Tags(touch_kind, utm["source"], utm["medium"], utm["campaign"])
    if kind == ActivityKind.EMAIL_CLICK:
        return Tags(
            Kind.EMAIL, _text(props.get("source")) or "email", "email", _text(props.get("campaign"))
        )
    if kind not in MAYBE_TOUCH:
        return None
    source = _host(_referrer(props))
    if not source or source == _host(url):  # no referrer, or a page of the same site
        return None
    medium = (
        "organic"
        if any(source.startswith(h) or f".{h}" in source for h in SEARCH_HOSTS)
        else "referral"
    )
    return Tags(Kind.FORM if kind == ActivityKind.FORM_SUBMIT else Kind.REFERRAL, source, medium)


def lead_tags(*, source: str, utm_source: str, utm_medium: str, utm_campaign: str) -> Tags:
    """The creation touch: the lead's first-touch UTM tags, else its source, else no tags (a
    lead typed in by hand is not direct traffic: "(none)", channel Unassigned)."""
    if utm_source or utm_medium or utm_campaign:
        return Tags(
            Kind.CREATED, utm_source[:TAG_MAX], utm_medium[:TAG_MAX], utm_campaign[:TAG_MAX]
        )
    return Tags(Kind.CREATED, source[:TAG_MAX])

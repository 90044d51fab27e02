"""Languages and time zones: which one a person reads LeadFlow in.

The one place for the rule (docs/i18n.md): a signed-in user's profile language and time zone
win; without one (or for an anonymous visitor, an API client) the language comes from
``Accept-Language`` and the time zone is the site's (``TIME_ZONE``). A value that is not one of
ours (an old profile, a bad header) falls back to the default, never to an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, wraps
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.utils import timezone, translation

R = TypeVar("R")


def language_codes() -> tuple[str, ...]:
    return tuple(code for code, _name in settings.LANGUAGES)


def valid_language(code: str | None) -> str | None:
    """``code`` if LeadFlow is translated into it (``de-AT`` counts as ``de``), else None."""
    if not code:
        return None
    code = code.strip().lower().replace("_", "-")
    codes = language_codes()
    if code in codes:
        return code
    base = code.split("-")[0]
    return base if base in codes else None


def valid_time_zone(name: str | None) -> ZoneInfo | None:
    """The zone named ``name`` (an IANA name such as ``Europe/Budapest``), else None."""
    return ZoneInfo(name) if name and name in _zone_names() else None


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())  # (reads the zone database: once a process)


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(_zone_names())]


def user_language(user: Any) -> str:
    """The language to write to ``user`` in (notifications, e-mails): theirs, else the site's."""
    return (
        valid_language(getattr(user, "language", ""))
        or valid_language(settings.LANGUAGE_CODE)
        or "en"
    )


def user_time_zone(user: Any) -> ZoneInfo:
    """The zone to show ``user`` times in: theirs, else the site's."""
    return valid_time_zone(getattr(user, "time_zone", "")) or ZoneInfo(settings.TIME_ZONE)


@contextmanager
def for_user(user: Any) -> Iterator[None]:
    """Render for ``user`` (a notification, an e-mail): their language and time zone."""
    with translation.override(user_language(user)), timezone.override(user_time_zone(user)):
        yield


def in_site_time_zone(view: Callable[..., R]) -> Callable[..., R]:
    """For report views: days are counted in the site's time zone (the rollups are per site
    day), so the page, its filters and its export use that zone whoever reads them."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> R:
        with timezone.override(timezone.get_default_timezone()):
            return view(*args, **kwargs)

    return wrapped


def shown(text: str) -> str:
    """A stored text as a reader sees it: an install default (marked in its data migration,
    e.g. a rejection reason) in the reader's language, anything typed by a person as typed."""
    return translation.gettext(text) if text else text

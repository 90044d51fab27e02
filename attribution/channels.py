"""The channel grouping: which channel a touch's tags belong to, by the editable rules.

Channels are not stored on touches or credits: reports group the (few thousand at most)
distinct tag sets they read through the rules when they run, so an edited rule regroups all
history at once, with nothing to rebuild.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from django.utils.translation import gettext

from attribution.models import ChannelRule

_SEARCH = r"google|bing|yahoo|baidu|duckduckgo|ecosia|yandex|seznam|search"
_SOCIAL = (
    r"facebook|fb\b|instagram|linkedin|lnkd\.in|twitter|\bx\.com|t\.co\b|tiktok|xing|reddit"
    r"|pinterest|threads|mastodon|social"
)
_VIDEO = r"youtube|vimeo|twitch|video"
_PAID = r"^(.*cp.*|ppc|retargeting|paid.*)$"
_NONE = r"^(\(none\)|\(not set\)|none)?$"

# (channel, source, medium, campaign): after Google Analytics 4's default channel group, with
# Central Europe's search engine (Seznam) and social network (XING), and the snake_case origins
# of exported funnels (organic_search, direct_traffic, ...). Migration 0002 seeds them.
DEFAULT_RULES: Final = (
    ("Direct", r"^(\(direct\)|direct|direct_traffic)$", _NONE, ""),
    ("Cross-network", "", "", r"cross-network"),
    ("Paid Search", _SEARCH, _PAID, ""),
    ("Paid Search", r"^paid[_ ]search$", "", ""),
    ("Paid Social", _SOCIAL, _PAID, ""),
    ("Paid Video", _VIDEO, _PAID, ""),
    ("Display", "", r"^(display|banner|expandable|interstitial|cpm)$", ""),
    ("Display", r"^display$", "", ""),
    ("Paid Other", "", _PAID, ""),
    ("Organic Social", _SOCIAL, "", ""),
    ("Organic Social", "", r"^(social|social[-_ ]network|social[-_ ]media|sm)$", ""),
    ("Organic Video", _VIDEO, "", ""),
    ("Organic Video", "", r"video", ""),
    ("Organic Search", _SEARCH, "", ""),
    ("Organic Search", "", r"^organic$", ""),
    ("Email", r"e[-_ ]?mail|newsletter", "", ""),
    ("Email", "", r"e[-_ ]?mail|newsletter", ""),
    ("Affiliates", "", r"^affiliate", ""),
    ("Referral", "", r"^(referral|app|link)$", ""),
    ("Referral", r"^referral$", "", ""),
    ("Audio", "", r"^audio$", ""),
    ("SMS", r"^sms$", "", ""),
    ("SMS", "", r"^sms$", ""),
    ("Mobile Push Notifications", "", r"push$|mobile|notification", ""),
)


@dataclass(frozen=True)
class _Compiled:
    channel: str
    patterns: tuple[re.Pattern[str] | None, re.Pattern[str] | None, re.Pattern[str] | None]

    def matches(self, tags: tuple[str, str, str]) -> bool:
        return all(
            p is None or p.search(value) for p, value in zip(self.patterns, tags, strict=True)
        )


def _compile(pattern: str) -> re.Pattern[str] | None:
    return re.compile(pattern, re.IGNORECASE) if pattern else None


class Grouping:
    """The active rules, read once; ``channel(tags)`` for as many tag sets as a report has."""

    def __init__(self, rules: Iterable[ChannelRule] | None = None) -> None:
        rules = ChannelRule.objects.filter(active=True) if rules is None else rules
        self._rules = [
            _Compiled(
                r.channel,
                (
                    _compile(r.source_pattern),
                    _compile(r.medium_pattern),
                    _compile(r.campaign_pattern),
                ),
            )
            for r in rules
        ]
        self._seen: dict[tuple[str, str, str], str] = {}

    def channel(self, tags: tuple[str, str, str]) -> str:
        found = self._seen.get(tags)
        if found is None:
            found = next((r.channel for r in self._rules if r.matches(tags)), None) or gettext(
                "Unassigned"
            )
            self._seen[tags] = found
        return found

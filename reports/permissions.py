"""Who sees which report: managers (and admins, integrations) every one; marketers the ones
about where leads come from, what campaigns return and why sales sends leads back."""

from enum import StrEnum
from typing import Any, Final


class Perm(StrEnum):
    VIEW_REPORTS = "reports.view_reports"
    VIEW_MARKETING_REPORTS = "reports.view_marketing_reports"


# What VIEW_MARKETING_REPORTS opens. Pipeline, velocity, SLA, point in time and the account
# reports are the sales managers' (their teams' deals and pace).
MARKETING_REPORTS: Final = frozenset(
    {
        "funnel",
        "cohort",
        "sources",
        "rejections",
        "exits",
        "recycles",
        "attribution",
        "roi",
        "ltv",
    }
)


def may_view(user: Any, slug: str | None = None) -> bool:
    """Whether ``user`` may see report ``slug`` (None: any report at all)."""
    if user.has_perm(Perm.VIEW_REPORTS):
        return True
    return user.has_perm(Perm.VIEW_MARKETING_REPORTS) and (
        slug is None or slug in MARKETING_REPORTS
    )

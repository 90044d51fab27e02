"""Which link of a lead to an account wins: the one order of precedence, pure.

explicit (a person, the REST API, an import column) > Segment ``group`` > e-mail domain.
A link may replace a current one from the same or a lower-ranked source, never a higher one; a
person's explicit "no account" is an explicit link too. Company-name matches are only ever
offered as suggestions (``selectors.account_suggestions``), never linked.
"""

from typing import Final

from companies.models import Membership

RANK: Final[dict[str, int]] = {
    Membership.Source.EXPLICIT: 3,
    Membership.Source.GROUP: 2,
    Membership.Source.DOMAIN: 1,
}


def may_replace(*, current: str | None, new: str) -> bool:
    """``current``: the source of the lead's current link (None: it has none)."""
    return current is None or RANK[new] >= RANK[current]

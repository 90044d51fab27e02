"""A member's buying-group role from their job title and seniority: the rule, pure.

People know better than any rule: a role a person set (``RoleSource.PERSON``) is never changed
by it. Checked in order; the first match wins, else ``unknown``.
"""

import re
from typing import Final

from companies.models import BuyingRole

# (pattern on the lower-cased job title, role); German, Danish, Czech and Hungarian words too
_TITLE_RULES: Final[tuple[tuple[re.Pattern[str], BuyingRole], ...]] = (
    (re.compile(r"procurement|purchas|einkauf|indkøb|nákup|beszerz|legal|compliance"), BuyingRole.BLOCKER),
    (re.compile(r"\b(ceo|cfo|cto|cio|coo|cmo|cro|owner|founder|president|geschäftsführer|"
                r"vorstand|direktør|ředitel|jednatel|ügyvezető|igazgató)\b"), BuyingRole.DECISION_MAKER),
    (re.compile(r"\b(vp|vice president|head of|director|leiter|chef)\b"), BuyingRole.INFLUENCER),
    (re.compile(r"\b(manager|lead|teamlead|teamleiter|vezető|vedoucí)\b"), BuyingRole.CHAMPION),
    (re.compile(r"\b(analyst|engineer|developer|specialist|consultant|assistant|"
                r"associate|administrator|referent|sachbearbeiter)\b"), BuyingRole.USER),
)  # fmt: skip
_SENIORITY_ROLES: Final[dict[str, BuyingRole]] = {
    "owner": BuyingRole.DECISION_MAKER,
    "cxo": BuyingRole.DECISION_MAKER,
    "vp": BuyingRole.INFLUENCER,
    "director": BuyingRole.INFLUENCER,
    "manager": BuyingRole.CHAMPION,
    "senior": BuyingRole.USER,
    "entry": BuyingRole.USER,
}


def role_for(*, job_title: str, seniority: str) -> BuyingRole:
    title = job_title.strip().lower()
    for pattern, role in _TITLE_RULES:
        if title and pattern.search(title):
            return role
    return _SENIORITY_ROLES.get(seniority, BuyingRole.UNKNOWN)

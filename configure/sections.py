"""The Settings area's sections, declared once: the index page and the navigation read this list.

A section is visible to a user holding its permission; add a section by appending to SECTIONS
(its ``url_name`` must exist in ``configure/urls.py``).
"""

from dataclasses import dataclass
from typing import Final

from django.contrib.auth.models import AbstractUser, AnonymousUser


@dataclass(frozen=True)
class Section:
    title: str
    url_name: str  # in the "configure" namespace
    permission: str  # "app_label.codename"
    description: str


SECTIONS: Final[list[Section]] = []


def visible_sections(user: AbstractUser | AnonymousUser) -> list[Section]:
    return [s for s in SECTIONS if user.has_perm(s.permission)]


# --- integrations (configure/integrations_views.py) ---
SECTIONS.extend(
    [
        Section(
            "API keys",
            "apikeys",
            "leadflow.manage_api_keys",
            "Keys integrations and websites send data with: create, see scopes and last use, revoke.",
        ),
        Section(
            "Webhooks",
            "webhooks",
            "handover.manage_webhooks",
            "Where LeadFlow POSTs events: subscriptions, signing secrets, the delivery log, redelivery.",
        ),
    ]
)

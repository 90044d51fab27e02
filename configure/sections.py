"""The Settings area's sections, declared once: the index page and the navigation read this list.

A section is visible to a user holding its permission; add a section by appending to SECTIONS
(its ``url_name`` must exist in ``configure/urls.py``, or be namespaced, "privacy:requests", for a
page another app serves).
"""

from dataclasses import dataclass
from typing import Final

from django.contrib.auth.models import AbstractUser, AnonymousUser


@dataclass(frozen=True)
class Section:
    title: str
    url_name: str  # in the "configure" namespace unless namespaced ("privacy:requests")
    permission: str  # "app_label.codename"
    description: str

    @property
    def route(self) -> str:
        """The name to reverse."""
        return self.url_name if ":" in self.url_name else f"configure:{self.url_name}"


SECTIONS: Final[list[Section]] = []


def visible_sections(user: AbstractUser | AnonymousUser) -> list[Section]:
    return [s for s in SECTIONS if user.has_perm(s.permission)]


# --- sales settings (issue 17 item 2): configuration kinds (configure/sales_registry.py), then
# users and teams. Each page checks the permission named here.
_SALES = "handover.manage_handover_settings"
_USERS = "leadflow.manage_users"
SALES_SECTIONS: Final[list[Section]] = [
    Section(
        "SLA policies",
        "sla_policies",
        _SALES,
        "How long a lead may wait as MQL, SAL or SQL, the warning and the escalation ladder.",
    ),
    Section(
        "Business calendars",
        "calendars",
        _SALES,
        "Working hours, time zone and holidays that SLA clocks and availability count.",
    ),
    Section(
        "Assignment rules",
        "assignment_rules",
        _SALES,
        "Who receives new MQLs: territory, capacity and the round-robin members.",
    ),
    Section(
        "Rep availability",
        "rep_profiles",
        _SALES,
        "Each rep's working calendar and whether they take new leads.",
    ),
    Section("Out of office", "out_of_office", _SALES, "Absences: nobody is assigned then."),
    Section(
        "Rejection reasons",
        "rejection_reasons",
        _SALES,
        "Why sales may reject an MQL, and where each reason sends the lead.",
    ),
    Section(
        "Qualification frameworks",
        "frameworks",
        _SALES,
        "BANT, CHAMP, GPCTBA/C&I or your own checklist, and its pass rule (SAL → SQL).",
    ),
    Section(
        "Tags",
        "tags",
        "leads.change_tag",
        "Labels on leads: rename them, pick their colour, see how many leads carry each.",
    ),
    Section(
        "Custom fields",
        "custom_fields",
        "leads.change_customfield",
        "Your own fields on leads: type, who sees and edits them, filters, cards and scoring.",
    ),
    Section(
        "Trait mappings",
        "trait_mappings",
        "leads.change_customfield",
        "Segment identify traits stored in custom fields, checked as each field's type.",
    ),
    Section("Users", "users", _USERS, "People, their role and team; deactivate leavers."),
    Section("Teams", "teams", _USERS, "Sales teams, their manager and members."),
]
SECTIONS.extend(SALES_SECTIONS)

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

# --- people's data and the record of changes (pages of the privacy app): in Settings so the top
# bar stays short; the privacy pages check these permissions themselves ---
SECTIONS.extend(
    [
        Section(
            "Privacy requests",
            "privacy:requests",
            "privacy.export_personal_data",
            "A person's access or erasure request: find them by e-mail, export, erase.",
        ),
        Section(
            "Audit log",
            "privacy:audit_log",
            "leadflow.view_audit_log",
            "Who changed what and when: stage moves, settings, keys, erasures; filter and export.",
        ),
    ]
)

"""The Settings area's sections, declared once: the index page and the navigation read this list.

A section is visible to a user holding its permission; add a section by appending to SECTIONS
(its ``url_name`` must exist in ``configure/urls.py``, or be namespaced, "privacy:requests", for a
page another app serves).
"""

from dataclasses import dataclass
from typing import Final

from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class Section:
    title: StrOrPromise
    url_name: str  # in the "configure" namespace unless namespaced ("privacy:requests")
    permission: str  # "app_label.codename"
    description: StrOrPromise

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
        _("SLA policies"),
        "sla_policies",
        _SALES,
        _("How long a lead may wait as MQL, SAL or SQL, the warning and the escalation ladder."),
    ),
    Section(
        _("Business calendars"),
        "calendars",
        _SALES,
        _("Working hours, time zone and holidays that SLA clocks and availability count."),
    ),
    Section(
        _("Assignment rules"),
        "assignment_rules",
        _SALES,
        _("Who receives new MQLs: territory, capacity and the round-robin members."),
    ),
    Section(
        _("Rep availability"),
        "rep_profiles",
        _SALES,
        _("Each rep's working calendar and whether they take new leads."),
    ),
    Section(_("Out of office"), "out_of_office", _SALES, _("Absences: nobody is assigned then.")),
    Section(
        _("Rejection reasons"),
        "rejection_reasons",
        _SALES,
        _("Why sales may reject an MQL, and where each reason sends the lead."),
    ),
    Section(
        _("Exit reasons"),
        "exit_reasons",
        _SALES,
        _("Why accepted leads leave: lost, no budget, went quiet. Counted in the exits report."),
    ),
    Section(
        _("Qualification frameworks"),
        "frameworks",
        _SALES,
        _("BANT, CHAMP, GPCTBA/C&I or your own checklist, and its pass rule (SAL → SQL)."),
    ),
    Section(
        _("Channel grouping"),
        "channel_rules",
        "attribution.change_channelrule",
        _("Which channel each touch's source, medium and campaign belong to, for attribution."),
    ),
    Section(
        _("Campaign spend"),
        "spend",
        "attribution.change_spend",
        _("What each campaign cost per month, for the return-on-spend report."),
    ),
    Section(
        _("Exchange rates"),
        "exchange_rates",
        "leads.change_exchangerate",
        _("What a deal in another currency is worth in the reporting currency, for money reports."),
    ),
    Section(
        _("Tags"),
        "tags",
        "leads.change_tag",
        _("Labels on leads: rename them, pick their colour, see how many leads carry each."),
    ),
    Section(
        _("Custom fields"),
        "custom_fields",
        "leads.change_customfield",
        _("Your own fields on leads: type, who sees and edits them, filters, cards and scoring."),
    ),
    Section(
        _("Trait mappings"),
        "trait_mappings",
        "leads.change_customfield",
        _("Segment identify traits stored in custom fields, checked as each field's type."),
    ),
    Section(_("Users"), "users", _USERS, _("People, their role and team; deactivate leavers.")),
    Section(_("Teams"), "teams", _USERS, _("Sales teams, their manager and members.")),
]
SECTIONS.extend(SALES_SECTIONS)

# --- integrations (configure/integrations_views.py) ---
SECTIONS.extend(
    [
        Section(
            _("API keys"),
            "apikeys",
            "leadflow.manage_api_keys",
            _(
                "Keys integrations and websites send data with: create, see scopes and last use, "
                "revoke."
            ),
        ),
        Section(
            _("Webhooks"),
            "webhooks",
            "handover.manage_webhooks",
            _(
                "Where LeadFlow POSTs events: subscriptions, signing secrets, the delivery log, "
                "redelivery."
            ),
        ),
    ]
)

# --- people's data and the record of changes (pages of the privacy app): in Settings so the top
# bar stays short; the privacy pages check these permissions themselves ---
SECTIONS.extend(
    [
        Section(
            _("Privacy requests"),
            "privacy:requests",
            "privacy.export_personal_data",
            _("A person's access or erasure request: find them by e-mail, export, erase."),
        ),
        Section(
            _("Audit log"),
            "privacy:audit_log",
            "leadflow.view_audit_log",
            _(
                "Who changed what and when: stage moves, settings, keys, erasures; filter and "
                "export."
            ),
        ),
    ]
)

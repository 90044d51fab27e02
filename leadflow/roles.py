"""Roles are Django groups with permissions, declared here once and synced after migrate.

Apps name their permissions as ``app_label.codename`` strings so that this bottom layer imports
no app. ``sync_roles`` is idempotent; it runs on every ``migrate`` (see ``leadflow.apps``).
"""

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Final

from django.contrib.auth.models import Group, Permission
from django.utils.translation import gettext_lazy as _


class Role(StrEnum):
    MARKETER = "marketer"
    SALES_REP = "sales_rep"
    SALES_MANAGER = "sales_manager"
    ADMIN = "admin"
    INTEGRATION = "integration"


# How pages name a role to a person ("Your role (Sales rep) may not ...").
ROLE_LABELS: Final[dict[Role, Any]] = {
    Role.MARKETER: _("Marketer"),
    Role.SALES_REP: _("Sales rep"),
    Role.SALES_MANAGER: _("Sales manager"),
    Role.ADMIN: _("Admin"),
    Role.INTEGRATION: _("Integration"),
}


def role_labels(group_names: Iterable[str]) -> list[str]:
    """The labels of the roles among ``group_names`` (a user's groups), in declaration order."""
    names = set(group_names)
    return [str(label) for role, label in ROLE_LABELS.items() if role.value in names]


ROLE_PERMISSIONS: Final[dict[Role, frozenset[str]]] = {
    Role.MARKETER: frozenset(
        {
            "leads.view_lead",
            "leads.add_lead",
            "leads.change_lead",
            "leads.view_all_leads",
            "leads.move_lead_stage",
            "leads.view_activity",
            "leads.view_stagechange",
            "handover.view_handover",
            "predictive.view_predictivemodel",
            "scoring.view_scoringmodel",
            "scoring.change_scoringmodel",
            "scoring.publish_scoringmodel",
        }
    ),
    Role.SALES_REP: frozenset(
        {
            "leads.view_lead",
            "leads.change_lead",
            "leads.move_lead_stage",
            "leads.view_activity",
            "leads.view_stagechange",
            "handover.view_handover",
            "handover.decide_sal",
            "handover.qualify_lead",
        }
    ),
    Role.SALES_MANAGER: frozenset(
        {
            "leads.view_lead",
            "leads.add_lead",  # the "New lead" form (issue 17)
            "leads.change_lead",
            "leads.view_all_leads",
            "leads.move_lead_stage",
            "leads.view_activity",
            "leads.view_stagechange",
            "leads.view_team",
            "leads.change_team",
            "handover.view_handover",
            "handover.decide_sal",
            "handover.qualify_lead",
            "handover.reassign_handover",
            "handover.manage_handover_settings",
            "predictive.view_predictivemodel",
            "predictive.train_predictivemodel",
            "reports.view_reports",
        }
    ),
    Role.INTEGRATION: frozenset(
        {
            "leads.view_lead",
            "leads.add_lead",
            "leads.change_lead",
            "leads.view_all_leads",
            "leads.move_lead_stage",
            "leads.add_activity",
            "leads.view_activity",
            "leads.view_stagechange",
        }
    ),
}
# Browser UI (issue 6): people who work leads keep notes and follow-up tasks on them.
_LEAD_WORK = frozenset(
    {"leads.view_note", "leads.add_note", "leads.view_task", "leads.add_task", "leads.change_task"}
)
for _role in (Role.MARKETER, Role.SALES_REP, Role.SALES_MANAGER):
    ROLE_PERMISSIONS[_role] = ROLE_PERMISSIONS[_role] | _LEAD_WORK
# Privacy (issue 9): marketers import, review duplicates and record consent; managers merge.
ROLE_PERMISSIONS[Role.MARKETER] |= {
    "privacy.import_leads",
    "privacy.merge_leads",
    "privacy.manage_consent",
}
ROLE_PERMISSIONS[Role.SALES_MANAGER] |= {"privacy.merge_leads", "privacy.manage_consent"}
# Tags (issue 17's bulk tag): whoever changes leads tags them; marketers and managers keep the
# list tidy in Settings › Tags (rename, colour, delete).
ROLE_PERMISSIONS[Role.MARKETER] |= {"leads.view_tag", "leads.change_tag", "leads.delete_tag"}
ROLE_PERMISSIONS[Role.SALES_MANAGER] |= {"leads.view_tag", "leads.change_tag", "leads.delete_tag"}
ROLE_PERMISSIONS[Role.INTEGRATION] |= {"privacy.manage_consent"}
# Integration accounts (keys made without --user) read what they already see the leads of:
# handovers, scores, reports and predictions. Deciding, publishing, training, merging and
# webhooks stay with people's roles: a key for those is made for such a person (``--user``).
ROLE_PERMISSIONS[Role.INTEGRATION] |= {
    "handover.view_handover",
    "scoring.view_scoringmodel",
    "reports.view_reports",
    "predictive.view_predictivemodel",
}
# Attribution (issue 20): the channel grouping is data; marketers and managers keep it.
_CHANNEL_RULES = frozenset(
    f"attribution.{verb}_channelrule" for verb in ("view", "add", "change", "delete")
)
ROLE_PERMISSIONS[Role.MARKETER] |= _CHANNEL_RULES
ROLE_PERMISSIONS[Role.SALES_MANAGER] |= _CHANNEL_RULES
# Reports (issue 20): marketers see where leads come from, what campaigns return and why sales
# sends leads back (reports.permissions.MARKETING_REPORTS); managers see every report.
ROLE_PERMISSIONS[Role.MARKETER] |= {"reports.view_marketing_reports"}
# Money (issue 20): marketers and managers keep what campaigns cost (Settings, API, import).
_SPEND = frozenset(f"attribution.{verb}_spend" for verb in ("view", "add", "change", "delete"))
ROLE_PERMISSIONS[Role.MARKETER] |= _SPEND
ROLE_PERMISSIONS[Role.SALES_MANAGER] |= _SPEND
# Money (issue 20): managers keep the exchange rates their reports convert deals at.
ROLE_PERMISSIONS[Role.SALES_MANAGER] |= {
    f"leads.{verb}_exchangerate" for verb in ("view", "add", "change", "delete")
}
# Capture (issue 19): marketers build forms and review what they captured and refused.
ROLE_PERMISSIONS[Role.MARKETER] |= {"capture.view_form", "capture.manage_forms"}
# Accounts (issue 18): everyone who works leads sees accounts; marketers and managers keep them
# (create, edit, merge); whoever works an account's people may set their buying-group roles.
for _role in (Role.MARKETER, Role.SALES_REP, Role.SALES_MANAGER, Role.INTEGRATION):
    ROLE_PERMISSIONS[_role] |= {"companies.view_account"}
for _role in (Role.MARKETER, Role.SALES_MANAGER, Role.INTEGRATION):
    ROLE_PERMISSIONS[_role] |= {"companies.add_account", "companies.change_account"}
for _role in (Role.MARKETER, Role.SALES_MANAGER):
    ROLE_PERMISSIONS[_role] |= {"companies.merge_accounts"}
for _role in (Role.MARKETER, Role.SALES_REP, Role.SALES_MANAGER):
    ROLE_PERMISSIONS[_role] |= {"companies.set_buying_role"}
# Admins get every permission of every role (and are usually superusers too), plus webhooks.
ROLE_PERMISSIONS[Role.ADMIN] = frozenset().union(
    *ROLE_PERMISSIONS.values(), {"handover.manage_webhooks", "leadflow.view_audit_log"}
)
# Only admins manage users and teams in Settings (issue 17 item 2).
ROLE_PERMISSIONS[Role.ADMIN] |= {"leadflow.manage_users"}
# Only admins export or erase a person (GDPR access and erasure requests).
ROLE_PERMISSIONS[Role.ADMIN] |= {"privacy.export_personal_data", "privacy.erase_personal_data"}
# Only admins create and revoke API keys (Settings › API keys; issue 17).
ROLE_PERMISSIONS[Role.ADMIN] |= {"leadflow.manage_api_keys"}
# Only admins define custom fields and map Segment traits to them (Settings; issue 24).
ROLE_PERMISSIONS[Role.ADMIN] |= {
    f"leads.{action}_{model}"
    for action in ("view", "add", "change", "delete")
    for model in ("customfield", "traitmapping")
}


def sync_roles() -> None:
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = []
        for perm in sorted(perms):
            app_label, codename = perm.split(".", 1)
            found = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found is not None:  # an app not migrated yet gets its perms on its own migrate
                wanted.append(found)
        group.permissions.set(wanted)

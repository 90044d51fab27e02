from enum import StrEnum

from leads.permissions import HasPerm

__all__ = ["HasPerm", "Perm"]


class Perm(StrEnum):
    VIEW = "handover.view_handover"
    DECIDE_SAL = "handover.decide_sal"
    REASSIGN = "handover.reassign_handover"
    MANAGE_SETTINGS = "handover.manage_handover_settings"
    MANAGE_WEBHOOKS = "handover.manage_webhooks"
    QUALIFY = "handover.qualify_lead"

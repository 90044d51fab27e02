"""Who may do what to handovers. The decide and reassign rules live here and nowhere else: the
services enforce them, and pages ask them what to offer."""

from enum import StrEnum

from handover.models import AccountHandover, Handover
from leadflow.models import User
from leads.models import Lead
from leads.permissions import HasPerm, manager_scope

__all__ = ["HasPerm", "Perm", "may_decide", "may_reassign", "may_receive"]


class Perm(StrEnum):
    VIEW = "handover.view_handover"
    DECIDE_SAL = "handover.decide_sal"
    REASSIGN = "handover.reassign_handover"
    MANAGE_SETTINGS = "handover.manage_handover_settings"
    MANAGE_WEBHOOKS = "handover.manage_webhooks"
    QUALIFY = "handover.qualify_lead"


def may_decide(user: User, handover: Handover | AccountHandover) -> bool:
    """Accept or reject (a lead's or an account's handover): its owner; a manager of its team (or of its owner's team); an admin;
    and, while nobody owns it, a member of its team's queue (anyone, for a handover with no
    team). Whether it is still open is the service's question."""
    if not user.has_perm(Perm.DECIDE_SAL):
        return False
    if handover.owner_id == user.pk:
        return True
    scope = manager_scope(user)
    if scope is not None:
        return scope.covers(team_id=handover.team_id, owner_id=handover.owner_id)
    return handover.owner_id is None and (
        handover.team_id is None or user.teams.filter(pk=handover.team_id).exists()
    )


def may_reassign(user: User, lead: Lead) -> bool:
    """Give the lead to someone else: managers of its team (or its owner's team), admins."""
    scope = manager_scope(user) if user.has_perm(Perm.REASSIGN) else None
    return scope is not None and scope.covers(team_id=lead.team_id, owner_id=lead.owner_id)


def may_receive(user: User, owner_id: int) -> bool:
    """Whom ``user`` may hand a lead to: a member of a team they manage (admins: anyone; that
    the new owner is an active sales rep or manager is checked by the service)."""
    scope = manager_scope(user)
    return scope is not None and (scope.everything or owner_id in scope.member_ids)

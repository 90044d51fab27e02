from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from django.db.models import Q
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from leadflow.models import User
from leadflow.roles import Role
from leads.models import Team

# Managers' permission (declared by handover, named here so this bottom app imports none above).
MANAGE_TEAM_LEADS: Final = "handover.reassign_handover"


class Perm(StrEnum):
    VIEW_LEAD = "leads.view_lead"
    ADD_LEAD = "leads.add_lead"
    ADD_ACTIVITY = "leads.add_activity"
    CHANGE_LEAD = "leads.change_lead"
    VIEW_ALL_LEADS = "leads.view_all_leads"
    MOVE_STAGE = "leads.move_lead_stage"


class HasPerm(BasePermission):
    """``HasPerm.of(Perm.X)`` -> a DRF permission class requiring that Django permission."""

    perm: str = ""

    @classmethod
    def of(cls, perm: StrEnum) -> type["HasPerm"]:  # any app's Perm enum
        return type(f"Has_{perm.name}", (cls,), {"perm": perm.value})

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.has_perm(self.perm))


# --- whom a manager acts for ------------------------------------------------------------------


@dataclass(frozen=True)
class ManagerScope:
    """The leads and handovers a manager may act on (decide, reassign): those of the teams they
    manage, and those owned by a member of such a team. Admins act on everything. Seeing is
    wider (managers see every lead); acting stops at their own teams."""

    everything: bool = False
    team_ids: frozenset[int] = frozenset()
    member_ids: frozenset[int] = frozenset()

    def covers(self, *, team_id: int | None, owner_id: int | None) -> bool:
        if self.everything:
            return True
        if team_id is None and owner_id is None:  # nobody's yet: the shared unassigned queue
            return True
        return team_id in self.team_ids or owner_id in self.member_ids

    def q(self) -> Q:
        """The same rule as ``covers``, as a filter on rows with ``team`` and ``owner`` (for a
        scope of ``everything`` leave the filter out: an empty Q vanishes when OR-ed)."""
        if self.everything:
            raise ValueError("a scope of everything is no filter")
        return (
            Q(team__isnull=True, owner__isnull=True)
            | Q(team_id__in=sorted(self.team_ids))
            | Q(owner_id__in=sorted(self.member_ids))
        )


def is_admin(user: User) -> bool:
    return user.is_superuser or any(g.name == Role.ADMIN.value for g in user.groups.all())


def manager_scope(user: User) -> ManagerScope | None:
    """What ``user`` acts on as a manager; None if they are not a manager (or admin) at all."""
    if not user.is_active:
        return None
    if is_admin(user):
        return ManagerScope(everything=True)
    if not user.has_perm(MANAGE_TEAM_LEADS):
        return None
    teams = Team.objects.filter(manager=user)
    team_ids = frozenset(teams.values_list("pk", flat=True))
    members = frozenset(
        Team.members.through.objects.filter(team_id__in=team_ids).values_list("user_id", flat=True)
    )
    return ManagerScope(team_ids=team_ids, member_ids=members)

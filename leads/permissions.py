from enum import StrEnum

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


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

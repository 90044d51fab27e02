from enum import StrEnum

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


class Perm(StrEnum):
    VIEW = "handover.view_handover"
    DECIDE_SAL = "handover.decide_sal"
    REASSIGN = "handover.reassign_handover"
    MANAGE_SETTINGS = "handover.manage_handover_settings"
    MANAGE_WEBHOOKS = "handover.manage_webhooks"
    QUALIFY = "handover.qualify_lead"


class HasPerm(BasePermission):
    """``HasPerm.of(Perm.X)`` -> a DRF permission class requiring that Django permission."""

    perm: str = ""

    @classmethod
    def of(cls, perm: Perm) -> type["HasPerm"]:
        return type(f"Has_{perm.name}", (cls,), {"perm": perm.value})

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.has_perm(self.perm))

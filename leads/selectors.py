"""Reads of leads. Visibility is decided here and nowhere else."""

from django.db.models import Q, QuerySet

from leadflow.models import User
from leads.models import Lead, StageChange


def lead_visible_qs(*, user: User) -> QuerySet[Lead]:
    """Leads ``user`` may see: everything with ``view_all_leads``; else own and own teams'."""
    qs = Lead.objects.all()
    if user.has_perm("leads.view_all_leads"):
        return qs
    if not user.has_perm("leads.view_lead"):
        return qs.none()
    return qs.filter(Q(owner=user) | Q(team__members=user) | Q(team__manager=user)).distinct()


def lead_get_visible(*, user: User, lead_id: int) -> Lead | None:
    return lead_visible_qs(user=user).filter(pk=lead_id).first()


def stage_history(*, lead: Lead) -> QuerySet[StageChange]:
    return lead.stage_changes.select_related("actor").order_by("changed_at", "id")

"""Reads of the handover app. Visibility of handovers follows the leads' visibility."""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from handover.models import Delivery, Handover, Notification, SlaTimer
from leadflow.models import User
from leads.models import Lead
from leads.selectors import lead_visible_qs
from scoring.selectors import score_breakdown


def handover_visible_qs(*, user: User) -> QuerySet[Handover]:
    """Handovers of leads ``user`` may see, plus their own and their teams' queue."""
    qs = Handover.objects.select_related("lead", "owner", "rejection_reason")
    if user.has_perm("leads.view_all_leads"):
        return qs
    if not user.has_perm("handover.view_handover"):
        return qs.none()
    visible = lead_visible_qs(user=user).values("pk")
    return qs.filter(
        Q(lead__in=visible) | Q(owner=user) | Q(owner__isnull=True, team__members=user)
    ).distinct()


def handover_inbox(*, user: User) -> QuerySet[Handover]:
    """The SAL inbox: open handovers the user owns or may claim from a team queue."""
    return (
        handover_visible_qs(user=user)
        .filter(status=Handover.Status.OPEN)
        .filter(Q(owner=user) | Q(owner__isnull=True, team__members=user))
        .order_by("opened_at", "id")
    )


def rejections_by_source(*, user: User) -> list[dict[str, Any]]:
    """Rejected handovers counted by lead source and reason (for the reports and the inbox)."""
    return list(
        handover_visible_qs(user=user)
        .filter(status=Handover.Status.REJECTED)
        .order_by()
        .values("lead_source", "reason_code")
        .annotate(count=Count("id"))
        .order_by("lead_source", "-count", "reason_code")
    )


def notification_list(*, user: User, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(recipient=user)
    return qs.filter(read_at__isnull=True) if unread_only else qs


def notification_unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def delivery_list() -> QuerySet[Delivery]:
    return Delivery.objects.select_related("event", "subscription", "recipient")


def _score_breakdown(lead_id: int) -> Any:
    """The per-rule breakdown of the lead's stored score (scoring sits below handover)."""
    return score_breakdown(lead_id=lead_id)


def email_context(*, payload: Mapping[str, Any], recipient: User) -> dict[str, Any]:
    """What a rep needs in the e-mail: who, why now, scores, last activities, SLA due, a link."""
    lead_id = payload.get("lead_id")
    lead = (
        Lead.objects.select_related("owner", "team").filter(pk=int(lead_id)).first()
        if lead_id
        else None
    )
    timer = None
    if payload.get("timer_id"):
        timer = SlaTimer.objects.select_related("policy").filter(pk=payload["timer_id"]).first()
    elif lead is not None:
        timer = (
            SlaTimer.objects.select_related("policy")
            .filter(lead=lead, state=SlaTimer.State.RUNNING)
            .order_by("due_at")
            .first()
        )
    return {
        "recipient": recipient,
        "title": payload.get("title", ""),
        "why": payload.get("body", ""),
        "lead": lead,
        "activities": list(lead.activities.order_by("-occurred_at")[:5]) if lead else [],
        "breakdown": _score_breakdown(lead.pk) if lead else None,
        "timer": timer,
        "link": payload.get("link") or settings.SITE_URL,
        "site_url": settings.SITE_URL,
    }

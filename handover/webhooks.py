"""Webhook subscriptions as people manage them (Settings › Webhooks): services and selectors.

Every write is audited (``webhook.*``) and checks the destination with the same SSRF guard the
API and every delivery use (``outbox.resolve_destination``). The signing secret leaves these
functions only in the return value of a create or a rotation: the caller shows it once.
"""

from typing import Any

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.translation import gettext as _

from handover import rules
from handover.models import Delivery, DeliveryAttempt, WebhookSubscription
from handover.outbox import resolve_destination
from leadflow.audit import audit_record
from leadflow.exceptions import NotFoundError
from leadflow.models import User


def failing_q(prefix: str = "") -> Q:
    """A delivery is *failing* while its last attempt failed: given up, or waiting to retry."""
    return Q(**{f"{prefix}status": Delivery.Status.DEAD}) | Q(
        **{f"{prefix}status": Delivery.Status.PENDING, f"{prefix}attempts__gt": 0}
    )


def _checked(subscription: WebhookSubscription) -> None:
    subscription.full_clean()  # URL shape, event types (the model's validators)
    resolve_destination(subscription.url)  # DestinationRefusedError (field "url")


def _audit(
    action: str,
    subscription: WebhookSubscription,
    actor: User | None,
    request: HttpRequest | None,
    **details: Any,
) -> None:
    audit_record(
        action=f"webhook.{action}",
        actor=actor,
        target_type="webhooksubscription",
        target_id=subscription.pk,
        details={"url": subscription.url, **details},
        request=request,
    )


@transaction.atomic
def subscription_create(
    *,
    url: str,
    event_types: list[str],
    description: str = "",
    active: bool = True,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> WebhookSubscription:
    """A new subscription with a generated secret (the caller shows it once)."""
    subscription = WebhookSubscription(
        url=url, event_types=list(event_types), description=description, active=active
    )
    _checked(subscription)
    subscription.save()
    _audit("create", subscription, actor, request, event_types=event_types, active=active)
    return subscription


@transaction.atomic
def subscription_update(
    *,
    subscription_id: int,
    url: str,
    event_types: list[str],
    description: str,
    active: bool,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> WebhookSubscription:
    subscription = _locked(subscription_id)
    subscription.url, subscription.description = url, description
    subscription.event_types, subscription.active = list(event_types), active
    _checked(subscription)
    subscription.save(update_fields=["url", "description", "event_types", "active"])
    _audit("update", subscription, actor, request, event_types=event_types, active=active)
    return subscription


@transaction.atomic
def subscription_set_active(
    *,
    subscription_id: int,
    active: bool,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> WebhookSubscription:
    """Disable (no new deliveries are written for it) or enable again; a no-op when unchanged."""
    subscription = _locked(subscription_id)
    if subscription.active != active:
        subscription.active = active
        subscription.save(update_fields=["active"])
        _audit("enable" if active else "disable", subscription, actor, request)
    return subscription


@transaction.atomic
def subscription_rotate_secret(
    *, subscription_id: int, actor: User | None = None, request: HttpRequest | None = None
) -> WebhookSubscription:
    """A new signing secret at once (deliveries from now on are signed with it)."""
    subscription = _locked(subscription_id)
    subscription.secret = rules.new_secret()
    subscription.save(update_fields=["secret"])
    _audit(
        "rotate_secret", subscription, actor, request, hint=rules.secret_hint(subscription.secret)
    )
    return subscription


def _locked(subscription_id: int) -> WebhookSubscription:
    subscription = (
        WebhookSubscription.objects.select_for_update().filter(pk=subscription_id).first()
    )
    if subscription is None:
        raise NotFoundError(
            _("There is no webhook subscription with id %(id)s.") % {"id": subscription_id}
        )
    return subscription


# --- reads --------------------------------------------------------------------------------------


def subscription_list() -> QuerySet[WebhookSubscription]:
    """Subscriptions with their last webhook delivery's status and how many are failing."""
    last = Delivery.objects.filter(subscription=OuterRef("pk")).order_by("-id")
    return WebhookSubscription.objects.annotate(
        last_status=Subquery(last.values("status")[:1]),
        last_delivery_at=Subquery(last.values("created_at")[:1]),
        failing=Count("deliveries", filter=failing_q("deliveries__")),
    ).order_by("-active", "url", "id")


def subscription_deliveries(
    *, subscription: WebhookSubscription, failed_only: bool = False
) -> QuerySet[Delivery]:
    """The subscription's delivery log, newest first, with each one's last status code."""
    last_code = DeliveryAttempt.objects.filter(delivery=OuterRef("pk")).order_by("-number")
    qs = (
        Delivery.objects.filter(subscription=subscription)
        .select_related("event")
        .annotate(
            last_status_code=Subquery(
                last_code.values("status_code")[:1], output_field=IntegerField()
            )
        )
        .order_by("-id")
    )
    return qs.filter(failing_q()) if failed_only else qs

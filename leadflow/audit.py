"""One way to write the audit log (exports, erasures, merges, imports, role and key changes)."""

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from leadflow.client_ip import client_ip
from leadflow.models import AuditEvent, User


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    target_type: str = "",
    target_id: object = "",
    details: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Write one audit row. Call it inside the transaction of the action it records."""
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    ip = user_agent = None
    if request is not None:
        ip = client_ip(request)
        user_agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor.get_username() if actor is not None else "",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
        ip_address=ip,
        user_agent=user_agent or "",
        at=timezone.now(),
    )

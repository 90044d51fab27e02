"""Configuration rows (reasons, SLA policies, channel rules, exchange rates, ...): every app's
Settings page and API save and delete them here, validated in full by the model and audited in
the same transaction, so both paths apply the same rules."""

from collections.abc import Collection, Mapping
from typing import Any

from django.db import transaction
from django.db.models import Model

from leadflow.audit import audit_record
from leadflow.models import User


@transaction.atomic
def settings_save(
    *,
    instance: Model,
    data: Mapping[str, Any],
    actor: User | None = None,
    changed: Collection[str] | None = None,
    request: Any = None,
) -> Model:
    """Create or update a configuration row after full validation (model + pure rules), with
    an audit row naming who (the Settings pages and the API both save through here)."""
    created = instance._state.adding
    for name, value in data.items():
        setattr(instance, name, value)
    instance.full_clean()
    instance.save()
    audit_record(
        action="settings.create" if created else "settings.update",
        actor=actor,
        target_type=instance._meta.label_lower,
        target_id=instance.pk,
        details={"name": str(instance), "changed": sorted(data if changed is None else changed)},
        request=request,
    )
    return instance


@transaction.atomic
def settings_delete(*, instance: Model, actor: User | None = None, request: Any = None) -> None:
    """Delete a configuration row, audited. A row others still point at (on_delete PROTECT)
    raises ``ProtectedError`` before anything is deleted (the API answers 409 naming them)."""
    name, pk = str(instance), instance.pk
    instance.delete()
    audit_record(
        action="settings.delete",
        actor=actor,
        target_type=instance._meta.label_lower,
        target_id=pk,
        details={"name": name},
        request=request,
    )

"""Mark leads for an attribution refresh in the transaction of whatever changed them."""

from typing import Any

from attribution.services import mark, mark_later
from leadflow.models import User
from leads.models import ExchangeRate, Lead, StageChange

# the lead fields its creation touch and its revenue read
_READ = frozenset(
    {"source", "utm_source", "utm_medium", "utm_campaign", "deal_value", "currency", "created_at"}
)


def on_leads_changed(sender: Any, *, lead_ids: list[int], **kwargs: Any) -> None:
    """New activities, or a stage log rewritten in bulk (COPY imports, merges)."""
    mark(lead_ids)


def on_stage_changed(
    sender: type[Lead], *, lead: Lead, change: StageChange, actor: User | None, **kwargs: Any
) -> None:
    mark_later(lead.pk)


def on_lead_saved(
    sender: type[Lead], *, instance: Lead, created: bool, update_fields: Any, **kwargs: Any
) -> None:
    if created or update_fields is None or _READ & set(update_fields):
        mark_later(instance.pk)


def on_lead_deleted(sender: type[Lead], *, instance: Lead, **kwargs: Any) -> None:
    """Its touches go by cascade; its credits leave the rollup at the next refresh."""
    mark([instance.pk])


def on_rate_changed(sender: type[ExchangeRate], *, instance: ExchangeRate, **kwargs: Any) -> None:
    """Won revenue is credited in the reporting currency: a new rate restates the won deals
    in that currency."""
    won = Lead.objects.filter(currency=instance.currency, deal_value__isnull=False)
    mark(list(won.values_list("pk", flat=True)))

from typing import cast

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class AttributionConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "attribution"
    verbose_name = _("Attribution")

    def ready(self) -> None:
        from attribution import panels, receivers, services
        from leadflow import deadletter
        from leads import events, extensions
        from leads.models import ExchangeRate, Lead

        events.activities_recorded.connect(
            receivers.on_leads_changed, dispatch_uid="attribution.on_activities_recorded"
        )
        events.stage_changed.connect(
            receivers.on_stage_changed, dispatch_uid="attribution.on_stage_changed"
        )
        events.stage_log_rewritten.connect(
            receivers.on_leads_changed, dispatch_uid="attribution.on_stage_log_rewritten"
        )
        post_save.connect(
            receivers.on_lead_saved, sender=Lead, dispatch_uid="attribution.lead_saved"
        )
        post_delete.connect(
            receivers.on_lead_deleted, sender=Lead, dispatch_uid="attribution.lead_deleted"
        )
        for signal, uid in ((post_save, "saved"), (post_delete, "deleted")):
            signal.connect(
                receivers.on_rate_changed,
                sender=ExchangeRate,
                dispatch_uid=f"attribution.rate_{uid}",
            )
        extensions.register_lead_panel(panels.lead_touches_panel)
        deadletter.register(
            services.DEAD_REFRESH,
            label=cast(str, _("Attribution refresh (lead)")),
            retry=services.retry_lead,
        )

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HandoverConfig(AppConfig):
    name = "handover"

    def ready(self) -> None:
        from handover import outbox, receivers, selectors, sla
        from leadflow import deadletter
        from leads import events, extensions

        deadletter.register(
            outbox.DEAD_LETTER_KIND, label=_("Notification delivery"), retry=outbox.delivery_retry
        )
        deadletter.register(sla.DEAD_LETTER_KIND, label=_("SLA timer"), retry=sla.timer_retry)

        events.stage_changed.connect(
            receivers.on_stage_changed, dispatch_uid="handover.on_stage_changed"
        )
        events.stage_change_requested.connect(
            receivers.on_stage_change_requested, dispatch_uid="handover.qualification_gate"
        )
        # Browser pages: SLA badges on board cards, notifications in the lead timeline.
        extensions.register_card_badges(selectors.sla_badges)
        extensions.register_timeline_source(selectors.lead_notification_entries)

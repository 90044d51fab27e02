from django.apps import AppConfig
from django.db.models.signals import post_delete
from django.utils.translation import gettext_lazy as _


class HandoverConfig(AppConfig):
    name = "handover"

    def ready(self) -> None:
        from companies import events as account_events
        from companies import extensions as account_extensions
        from handover import account_pages, outbox, receivers, rule_precision, selectors, sla
        from handover.models import Handover
        from leadflow import deadletter
        from leads import events, extensions
        from scoring import dry_run_leads, precision

        deadletter.register(
            outbox.DEAD_LETTER_KIND, label=_("Notification delivery"), retry=outbox.delivery_retry
        )
        deadletter.register(sla.DEAD_LETTER_KIND, label=_("SLA timer"), retry=sla.timer_retry)
        precision.register(rule_precision.rule_outcomes)
        post_delete.connect(
            receivers.on_handover_deleted, sender=Handover, dispatch_uid="handover.precision_mark"
        )

        events.stage_changed.connect(
            receivers.on_stage_changed, dispatch_uid="handover.on_stage_changed"
        )
        events.stage_change_requested.connect(
            receivers.on_stage_change_requested, dispatch_uid="handover.qualification_gate"
        )
        account_events.accounts_qualified.connect(
            receivers.on_accounts_qualified, dispatch_uid="handover.on_accounts_qualified"
        )
        dry_run_leads.dry_run_leads_done.connect(
            receivers.on_dry_run_leads_done, dispatch_uid="handover.on_dry_run_leads_done"
        )
        account_events.members_added.connect(
            receivers.on_members_added, dispatch_uid="handover.on_members_added"
        )
        account_events.account_merging.connect(
            receivers.on_account_merging, dispatch_uid="handover.on_account_merging"
        )
        # the account page's "Marketing-qualified" panel and the list's MQA filter
        account_extensions.register_account_panel(account_pages.account_handover_panel)
        account_extensions.register_account_mqa_filter(account_pages.accounts_mqa)
        # Browser pages: SLA badges on board cards, notifications in the lead timeline.
        extensions.register_card_badges(selectors.sla_badges)
        extensions.register_timeline_source(selectors.lead_notification_entries)

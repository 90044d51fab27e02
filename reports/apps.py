from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self) -> None:
        from django.db.models.signals import post_save, pre_delete

        from leads import events
        from leads.models import Lead
        from reports import receivers

        post_save.connect(receivers.on_lead_saved, sender=Lead, dispatch_uid="reports.lead_dims")
        pre_delete.connect(
            receivers.on_lead_deleting, sender=Lead, dispatch_uid="reports.lead_deleting"
        )
        events.stage_changed.connect(
            receivers.on_stage_changed, dispatch_uid="reports.milestones_refresh"
        )
        events.stage_log_rewritten.connect(
            receivers.on_stage_log_rewritten, dispatch_uid="reports.milestones_bulk_refresh"
        )

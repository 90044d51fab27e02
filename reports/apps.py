from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self) -> None:
        from leads import events
        from reports import receivers

        events.stage_changed.connect(
            receivers.on_stage_changed, dispatch_uid="reports.milestones_refresh"
        )

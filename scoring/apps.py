from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"

    def ready(self) -> None:
        from leadflow import deadletter
        from leads import events
        from scoring import receivers, services

        for kind, label in (
            (services.DEAD_SWEEP, "Scoring sweep (lead)"),
            (services.DEAD_RESCORE, "Full rescore (lead)"),
            (services.DEAD_THRESHOLD, "Threshold move (lead)"),
        ):
            deadletter.register(kind, label=label, retry=services.lead_retry)

        events.activities_recorded.connect(
            receivers.on_activities_recorded, dispatch_uid="scoring.on_activities_recorded"
        )
        events.custom_field_delete_requested.connect(
            receivers.on_custom_field_delete_requested,
            dispatch_uid="scoring.on_custom_field_delete_requested",
        )

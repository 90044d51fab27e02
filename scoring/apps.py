from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"

    def ready(self) -> None:
        from leads import events
        from scoring import receivers

        events.activities_recorded.connect(
            receivers.on_activities_recorded, dispatch_uid="scoring.on_activities_recorded"
        )

from django.apps import AppConfig


class HandoverConfig(AppConfig):
    name = "handover"

    def ready(self) -> None:
        from handover import receivers
        from leads import events

        events.stage_changed.connect(
            receivers.on_stage_changed, dispatch_uid="handover.on_stage_changed"
        )
        events.stage_change_requested.connect(
            receivers.on_stage_change_requested, dispatch_uid="handover.qualification_gate"
        )

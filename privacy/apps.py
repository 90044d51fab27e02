from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"

    def ready(self) -> None:
        from leads import events
        from privacy import blocklist

        events.lead_create_requested.connect(
            blocklist.on_lead_create_requested, dispatch_uid="privacy.blocklist"
        )

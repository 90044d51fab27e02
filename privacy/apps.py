from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"

    def ready(self) -> None:
        from leads import events, extensions
        from privacy import blocklist, merge

        events.lead_create_requested.connect(
            blocklist.on_lead_create_requested, dispatch_uid="privacy.blocklist"
        )
        events.lead_identifiers_requested.connect(
            blocklist.on_lead_identifiers_requested, dispatch_uid="privacy.blocklist_update"
        )
        extensions.register_lead_merge(merge.lead_merge_by_integration)

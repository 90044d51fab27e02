from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CaptureConfig(AppConfig):
    name = "capture"
    verbose_name = _("Capture")

    def ready(self) -> None:
        from capture import gdpr
        from capture.sdk_consent import tracking_consent_gate
        from leads.extensions import register_browser_gate
        from privacy import gdpr as privacy_gdpr

        register_browser_gate(tracking_consent_gate)
        # a person's form submissions and consent records in their export and erasure
        privacy_gdpr.register_personal_data(gdpr.personal_data)
        privacy_gdpr.register_erasure(gdpr.erase)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CaptureConfig(AppConfig):
    name = "capture"
    verbose_name = _("Capture")

    def ready(self) -> None:
        from capture.sdk_consent import tracking_consent_gate
        from leads.extensions import register_browser_gate

        register_browser_gate(tracking_consent_gate)

from typing import cast

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PredictiveConfig(AppConfig):
    name = "predictive"
    verbose_name = _("Predictive scoring")

    def ready(self) -> None:
        from leadflow import deadletter
        from predictive import services

        deadletter.register(
            services.DEAD_LETTER_KIND,
            label=cast(str, _("Predictive scoring (lead)")),  # lazy: shown in the reader's language
            retry=services.lead_retry,
        )

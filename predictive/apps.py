from django.apps import AppConfig


class PredictiveConfig(AppConfig):
    name = "predictive"
    verbose_name = "Predictive scoring"

    def ready(self) -> None:
        from leadflow import deadletter
        from predictive import services

        deadletter.register(
            services.DEAD_LETTER_KIND, label="Predictive scoring (lead)", retry=services.lead_retry
        )

from django.apps import AppConfig


class PredictiveConfig(AppConfig):
    name = "predictive"
    verbose_name = "Predictive scoring"

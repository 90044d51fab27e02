from django.apps import AppConfig


class ConfigureConfig(AppConfig):
    """The in-product Settings area (``/settings/``): the admin's pages for what the Django admin
    used to be the only way to change. The Django admin stays for superusers."""

    name = "configure"
    verbose_name = "Settings"

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConfigureConfig(AppConfig):
    """The in-product Settings area (``/settings/``): the admin's pages for what the Django admin
    used to be the only way to change. The Django admin stays for superusers."""

    name = "configure"
    verbose_name = _("Settings")

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CompaniesConfig(AppConfig):
    """B2B accounts (issue 18). Named ``companies``: ``/accounts/`` is the login's URL space."""

    name = "companies"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from companies import receivers  # noqa: F401  (connects the leads.events receivers)

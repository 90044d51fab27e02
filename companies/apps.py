from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CompaniesConfig(AppConfig):
    """B2B accounts (issue 18). Named ``companies``: ``/accounts/`` is the login's URL space."""

    name = "companies"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from companies import panels, receivers  # noqa: F401  (receivers: leads.events)
        from leads import extensions

        # the lead page's "Account" panel (leads never imports companies)
        extensions.register_lead_panel(panels.lead_account_panel)
        extensions.register_card_accounts(panels.card_accounts)

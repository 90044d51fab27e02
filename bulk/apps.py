from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BulkConfig(AppConfig):
    name = "bulk"
    verbose_name = _("Bulk actions")

    def ready(self) -> None:
        from bulk import actions  # noqa: F401  (registers the built-in actions)
        from bulk.views import bar_context
        from leads.extensions import register_selection_bar

        register_selection_bar(bar_context)

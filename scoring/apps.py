from typing import cast

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = _("Scoring")

    def ready(self) -> None:
        from companies import extensions as account_extensions
        from leadflow import deadletter
        from leads import events
        from scoring import account_pages, receivers, services

        for kind, label in (
            (services.DEAD_SWEEP, _("Scoring sweep (lead)")),
            (services.DEAD_RESCORE, _("Full rescore (lead)")),
            (services.DEAD_THRESHOLD, _("Threshold move (lead)")),
        ):
            # (lazy: the dead-letter admin shows it in the reader's language)
            deadletter.register(kind, label=cast(str, label), retry=services.lead_retry)
        deadletter.register(
            services.DEAD_ACCOUNT,
            label=cast(str, _("Account scoring sweep (account)")),
            retry=services.account_retry,
        )

        events.activities_recorded.connect(
            receivers.on_activities_recorded, dispatch_uid="scoring.on_activities_recorded"
        )
        events.custom_field_delete_requested.connect(
            receivers.on_custom_field_delete_requested,
            dispatch_uid="scoring.on_custom_field_delete_requested",
        )

        # the account page's "Account score" panel, the list's and API's score, grade and
        # grade filter (companies never imports scoring)
        account_extensions.register_account_panel(account_pages.account_score_panel)
        account_extensions.register_account_scores(account_pages.account_scores)
        account_extensions.register_account_grade_filter(account_pages.filter_by_grade)

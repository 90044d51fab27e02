from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(**kwargs: Any) -> None:
    from leadflow.roles import sync_roles

    sync_roles()


class LeadflowConfig(AppConfig):
    name = "leadflow"
    verbose_name = "LeadFlow"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles, dispatch_uid="leadflow.sync_roles")

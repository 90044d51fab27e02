from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = _("Leads")

    def ready(self) -> None:
        post_migrate.connect(_rank_triggers, sender=self)


def _rank_triggers(using: str = "default", plan: Any = None, **kwargs: Any) -> None:
    """SQLite loses a table's triggers when Django rebuilds the table for a schema change: put
    the rank triggers back after every migrate (leads.rank; PostgreSQL keeps them)."""
    from leads import rank

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    # not when migrated back to before the triggers
    if ("leads", "0018_lead_rank_triggers") not in MigrationRecorder(
        connection
    ).applied_migrations():
        return
    with connection.cursor() as cursor:
        rank.install_sqlite(cursor)

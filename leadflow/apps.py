from typing import Any

from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_migrate, pre_save


def _sync_roles(**kwargs: Any) -> None:
    from leadflow.roles import sync_roles

    sync_roles()


class LeadflowConfig(AppConfig):
    name = "leadflow"
    verbose_name = "LeadFlow"

    def ready(self) -> None:
        from leadflow import lookups  # noqa: F401  (registers ``__any``)

        post_migrate.connect(_sync_roles, dispatch_uid="leadflow.sync_roles")

        from leadflow import receivers
        from leadflow.models import User

        m2m_changed.connect(
            receivers.on_groups_changed,
            sender=User.groups.through,
            dispatch_uid="leadflow.audit_groups",
        )
        pre_save.connect(
            receivers.on_user_pre_save, sender=User, dispatch_uid="leadflow.audit_flags"
        )

        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(
            receivers.on_login_store_language, dispatch_uid="leadflow.login_language"
        )

        from axes.signals import user_locked_out

        from leadflow.lockout import on_user_locked_out

        user_locked_out.connect(on_user_locked_out, dispatch_uid="leadflow.audit_lockout")

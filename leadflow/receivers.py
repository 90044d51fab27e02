"""Audit of role changes: whoever changes a user's groups or admin flags, by any path (admin,
shell, command), leaves an AuditEvent in the same transaction."""

from typing import Any

from django.contrib.auth.models import Group
from django.utils import translation

from leadflow import i18n
from leadflow.audit import audit_record
from leadflow.models import User

_FLAGS = ("is_superuser", "is_staff", "is_active")


def on_groups_changed(
    sender: Any, *, instance: Any, action: str, pk_set: set[int] | None, reverse: bool, **kw: Any
) -> None:
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if reverse:  # group.user_set changed: one event per user
        users = list(User.objects.filter(pk__in=pk_set or ()))
        groups = [instance.name]
    else:
        users = [instance]
        ids = pk_set if pk_set is not None else instance.groups.values_list("pk", flat=True)
        groups = sorted(Group.objects.filter(pk__in=ids).values_list("name", flat=True))
    verb = {"post_add": "added", "post_remove": "removed", "pre_clear": "removed"}[action]
    for user in users:
        audit_record(
            action="user.roles_changed",
            target_type="user",
            target_id=user.pk,
            details={"user": user.get_username(), verb: groups},
        )


def on_user_pre_save(sender: Any, *, instance: User, **kw: Any) -> None:
    if not instance.pk:
        return
    before = User.objects.filter(pk=instance.pk).values(*_FLAGS).first()
    if before is None:
        return
    changed = {f: getattr(instance, f) for f in _FLAGS if before[f] != getattr(instance, f)}
    if changed:
        audit_record(
            action="user.flags_changed",
            target_type="user",
            target_id=instance.pk,
            details={"user": instance.get_username(), **changed},
        )


def on_login_store_language(sender: Any, *, request: Any, user: Any, **kw: Any) -> None:
    """First sign-in without a chosen language: keep the browser's (Accept-Language), so the
    e-mails and notifications written to this user later are in it too (leadflow.i18n)."""
    if getattr(user, "language", "x") or request is None or not hasattr(request, "META"):
        return
    if not request.META.get("HTTP_ACCEPT_LANGUAGE"):  # nothing said (a script, a test client)
        return
    language = i18n.valid_language(translation.get_language_from_request(request))
    if language:
        User.objects.filter(pk=user.pk, language="").update(language=language)
        user.language = language

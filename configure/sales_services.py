"""Writes of the sales Settings pages: configuration rows, users and teams. Every write is
validated by the model (``full_clean``: the same rules the Django admin and the API apply) and
audited with the acting user in the same transaction."""

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from django.contrib.auth import password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Model, ProtectedError
from django.http import HttpRequest
from django.utils.translation import gettext as _

from handover.models import Handover
from leadflow.api.exceptions import in_use
from leadflow.audit import audit_record
from leadflow.config_rows import settings_delete, settings_save
from leadflow.exceptions import DomainError, PermissionDeniedError
from leadflow.models import User
from leadflow.roles import Role
from leads.models import Tag, Team
from leads.services import leads_mark_for_rescore
from leads.tags import tag_leads


class InUseError(DomainError):
    """A row others still point at (on_delete PROTECT): deleting it is refused, naming them."""

    code = "in_use"


@transaction.atomic
def config_save(
    *,
    instance: Model,
    actor: User,
    changed: Collection[str],
    save_related: Callable[[], None] | None = None,
    request: HttpRequest | None = None,
) -> Model:
    """Create or update one configuration row through ``leadflow.config_rows.settings_save``
    (full model validation, one audit row), then its related rows (many-to-many, inline
    members) through ``save_related``, all in one transaction."""
    settings_save(instance=instance, data={}, actor=actor, changed=changed, request=request)
    if save_related is not None:
        save_related()
    if isinstance(instance, Tag) and "name" in changed:  # scoring's tag rules read names
        leads_mark_for_rescore(tag_leads(instance.pk))
    return instance


def in_use_message(rows: Iterable[Model], *, can_deactivate: bool) -> str:
    names = ", ".join(f"{u['count']} {u['name']}" for u in in_use(rows))
    # Translators: names counts what uses it, e.g. "2 handovers, 1 sla timer".
    said = _("Still in use by %(names)s: it cannot be deleted.") % {"names": names}
    instead = _("Deactivate it instead.")
    return f"{said} {instead}" if can_deactivate else said


@transaction.atomic
def config_delete(*, instance: Model, actor: User, request: HttpRequest | None = None) -> None:
    """Delete a configuration row unless something still uses it (``InUseError`` naming what;
    the collector refuses before deleting anything)."""
    tagged = tag_leads(instance.pk) if isinstance(instance, Tag) else []
    try:
        settings_delete(instance=instance, actor=actor, request=request)
    except ProtectedError as exc:
        can_deactivate = any(f.name == "active" for f in instance._meta.fields)
        raise InUseError(
            in_use_message(exc.protected_objects, can_deactivate=can_deactivate)
        ) from None
    leads_mark_for_rescore(tagged)  # their tags changed: scoring's tag rules may read them


# --- users -----------------------------------------------------------------------------------


ROLE_NAMES = frozenset(r.value for r in Role)


def user_role(user: User) -> str:
    """The user's role (the first role group they hold), or "" for none."""
    names = sorted(g.name for g in user.groups.all() if g.name in ROLE_NAMES)
    return names[0] if names else ""


def _ensure_may_manage(actor: User, user: User | None = None) -> None:
    if not actor.has_perm("leadflow.manage_users"):
        raise PermissionDeniedError(_("You may not manage users."))
    if user is not None and user.is_superuser and not actor.is_superuser:
        raise PermissionDeniedError(_("Only a superuser may change a superuser."))


def _set_role_and_teams(user: User, *, role: Role, teams: Iterable[Team]) -> None:
    keep = [g for g in user.groups.all() if g.name not in ROLE_NAMES]
    user.groups.set([*keep, Group.objects.get(name=role.value)])  # audited by leadflow.receivers
    user.teams.set(list(teams))


@dataclass(frozen=True)
class UserInput:
    first_name: str
    last_name: str
    email: str
    role: Role
    teams: Collection[Team]


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    data: UserInput,
    actor: User,
    request: HttpRequest | None = None,
) -> User:
    """A new active user with an initial password (checked by the password validators), one
    role and their teams."""
    _ensure_may_manage(actor)
    user = User(
        username=username, first_name=data.first_name, last_name=data.last_name, email=data.email
    )
    user.full_clean(exclude=["password"])
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password1": exc.messages}) from None
    user.set_password(password)
    user.save()
    _set_role_and_teams(user, role=data.role, teams=data.teams)
    audit_record(
        action="user.create",
        actor=actor,
        target_type="user",
        target_id=user.pk,
        details={"user": username, "role": data.role.value, "teams": _team_names(data.teams)},
        request=request,
    )
    return user


def _team_names(teams: Iterable[Team]) -> list[str]:
    return sorted(t.name for t in teams)


@transaction.atomic
def user_update(
    *, user: User, data: UserInput, actor: User, request: HttpRequest | None = None
) -> User:
    _ensure_may_manage(actor, user)
    before = {
        "role": user_role(user),
        "teams": _team_names(user.teams.all()),
        "name": user.get_full_name(),
        "email": user.email,
    }
    user.first_name, user.last_name, user.email = data.first_name, data.last_name, data.email
    user.full_clean(exclude=["password"])
    user.save(update_fields=["first_name", "last_name", "email"])
    _set_role_and_teams(user, role=data.role, teams=data.teams)
    after = {
        "role": data.role.value,
        "teams": _team_names(data.teams),
        "name": user.get_full_name(),
        "email": user.email,
    }
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    audit_record(
        action="user.update",
        actor=actor,
        target_type="user",
        target_id=user.pk,
        details={"user": user.get_username(), "changed": changed},
        request=request,
    )
    return user


@transaction.atomic
def user_set_active(
    *, user: User, active: bool, actor: User, request: HttpRequest | None = None
) -> int:
    """Deactivate (or reactivate) a user. Users are never deleted: their leads, handovers and
    history keep pointing at them. Returns the open handovers they still own (to reassign)."""
    _ensure_may_manage(actor, user)
    if not active and user.pk == actor.pk:
        raise DomainError(_("You cannot deactivate yourself."), field="is_active")
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit_record(
            action="user.activate" if active else "user.deactivate",
            actor=actor,
            target_type="user",
            target_id=user.pk,
            details={"user": user.get_username()},
            request=request,
        )
    return Handover.objects.filter(owner=user, status=Handover.Status.OPEN).count()


def active_users() -> models.QuerySet[User]:
    return User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")

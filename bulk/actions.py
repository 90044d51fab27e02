"""The bulk actions, as a registry: adding one is a function that acts on one lead plus a
``register(BulkAction(...))`` call (the runner, job, permissions per lead, outcome rows and
pages are shared).

``apply`` acts on one lead (already locked, inside its own savepoint) through the one service
that owns the change, and returns an outcome; it *refuses* by raising ``DomainError``,
``ValidationError`` or ``PermissionDenied`` with a message for the person. ``clean`` turns the
submitted form into the parameters stored on the job, or raises ``ValidationError`` naming the
field. Which leads an actor may act on at all is the runner's check
(``leads.selectors.lead_actable_qs``), the same for every action.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_stubs_ext import StrOrPromise

from bulk.models import BulkOutcome
from handover import selectors as handover_selectors
from handover import services as handover_services
from handover.permissions import Perm as HandoverPerm
from leadflow.models import User
from leads import services as lead_services
from leads import tags
from leads.lifecycle import (
    INBOX_MESSAGE,
    REASON_REQUIRED,
    ActorKind,
    Stage,
    TransitionNotPermittedError,
    inbox_decides,
)
from leads.models import Lead, StageChange
from leads.permissions import Perm as LeadPerm

Params = dict[str, Any]
Result = BulkOutcome.Result


class Apply(Protocol):
    def __call__(self, *, lead: Lead, actor: User, params: Params) -> str: ...


@dataclass(frozen=True)
class BulkAction:
    code: str  # the form's ``action`` value and the job's ``action``
    label: StrOrPromise  # the action's name, as on the action bar's button
    permitted: Callable[[User], bool]  # the role check; per lead, the runner checks the rest
    clean: Callable[[Mapping[str, str], User], Params]
    describe: Callable[[Params], str]  # "Move to SQL", for the job page and the audit
    apply: Apply
    # whole sentences for a person without the right, before submitting and while the job runs
    # ("You may not move leads."); empty: made from the label
    not_permitted: StrOrPromise = ""
    no_longer_permitted: StrOrPromise = ""

    def refusal(self, *, no_longer: bool = False) -> str:
        """Why a person may not use this action (``no_longer``: any more, as the job runs)."""
        text = self.no_longer_permitted if no_longer else self.not_permitted
        if text:
            return str(text)
        action = str(self.label).lower()
        if no_longer:
            # Translators: %(action)s is a bulk action's name in lower case ("move")
            return _("You may no longer %(action)s leads.") % {"action": action}
        # Translators: %(action)s is a bulk action's name in lower case ("move")
        return _("You may not %(action)s leads.") % {"action": action}


ACTIONS: dict[str, BulkAction] = {}


def register(action: BulkAction) -> BulkAction:
    if action.code in ACTIONS:
        raise ValueError(f"bulk action {action.code!r} is registered twice")
    ACTIONS[action.code] = action
    return action


def may_move(user: User) -> bool:
    return user.has_perm(LeadPerm.MOVE_STAGE) and lead_services.actor_kind_for(user) is not None


def _kind(actor: User) -> ActorKind | None:
    return lead_services.actor_kind_for(actor)


def _ensure_not_inbox(actor: User, lead: Lead, to: Stage) -> None:
    if inbox_decides(_kind(actor), Stage(lead.stage), to):
        raise TransitionNotPermittedError(str(INBOX_MESSAGE))


# --- move to a stage ----------------------------------------------------------------------------


def _move_clean(data: Mapping[str, str], actor: User) -> Params:
    to = data.get("to", "")
    if to not in Stage.values or to == Stage.SUSPECT:
        raise ValidationError({"to": _("Choose the stage to move the selected leads to.")})
    if Stage(to) in REASON_REQUIRED:
        raise ValidationError(
            {
                "to": _("%(stage)s needs a reason: use Disqualify or Recycle to nurture.")
                % {"stage": Stage(to).label}
            }
        )
    return {"to": to}


def _move_apply(*, lead: Lead, actor: User, params: Params) -> str:
    to = Stage(params["to"])
    if lead.stage == to:
        return Result.UNCHANGED
    _ensure_not_inbox(actor, lead, to)
    result = lead_services.lead_move(
        lead_id=lead.pk, to=to, actor=actor, source=StageChange.Source.UI, locked=lead
    )
    return Result.APPLIED if result.change is not None else Result.UNCHANGED


register(
    BulkAction(
        code="move",
        label=gettext_lazy("Move"),
        permitted=may_move,
        clean=_move_clean,
        describe=lambda p: _("Move to %(stage)s") % {"stage": Stage(p["to"]).label},
        apply=_move_apply,
        not_permitted=gettext_lazy("You may not move leads."),
        no_longer_permitted=gettext_lazy("You may no longer move leads."),
    )
)


# --- disqualify / recycle to nurture, with a configured exit reason ------------------------


def _reason_clean(to: Stage, field: str) -> Callable[[Mapping[str, str], User], Params]:
    def clean(data: Mapping[str, str], actor: User) -> Params:
        code = data.get(field, "")
        if not code:
            raise ValidationError({field: _("Choose a reason.")})
        comment = data.get("comment", "").strip()
        if len(comment) > 400:
            raise ValidationError({"comment": _("Keep the comment under 400 characters.")})
        try:
            reason = lead_services.exit_reason_for(code, to, comment)
        except ValidationError as exc:  # the form's own field names
            named = {"reason_code": field, "reason": "comment"}
            raise ValidationError(
                {named.get(key, key): errors for key, errors in exc.message_dict.items()}
            ) from None
        return {"reason": reason.code, "comment": comment, "text": reason.text(comment)}

    return clean


def _exit_apply(to: Stage, *, lead: Lead, actor: User, params: Params) -> str:
    """Disqualify or recycle with the job's exit reason (which may reset engagement)."""
    if lead.stage == to:
        return Result.UNCHANGED
    _ensure_not_inbox(actor, lead, to)
    lead_services.EXIT_SERVICES[to](
        lead_id=lead.pk,
        actor=actor,
        source=StageChange.Source.UI,
        reason=params.get("comment", ""),
        reason_code=params["reason"],
        locked=lead,
    )
    return Result.APPLIED


register(
    BulkAction(
        code="disqualify",
        label=gettext_lazy("Disqualify"),
        permitted=may_move,
        clean=_reason_clean(Stage.DISQUALIFIED, "dq_reason"),
        # Translators: a bulk action's title; %(reason)s is the reason and the comment
        describe=lambda p: _("Disqualify (%(reason)s)") % {"reason": p["text"]},
        apply=partial(_exit_apply, Stage.DISQUALIFIED),
        not_permitted=gettext_lazy("You may not disqualify leads."),
        no_longer_permitted=gettext_lazy("You may no longer disqualify leads."),
    )
)
register(
    BulkAction(
        code="recycle",
        label=gettext_lazy("Recycle to nurture"),
        permitted=may_move,
        clean=_reason_clean(Stage.NURTURE, "nurture_reason"),
        # Translators: a bulk action's title; %(reason)s is the reason and the comment
        describe=lambda p: _("Recycle to nurture (%(reason)s)") % {"reason": p["text"]},
        apply=partial(_exit_apply, Stage.NURTURE),
        not_permitted=gettext_lazy("You may not recycle to nurture leads."),
        no_longer_permitted=gettext_lazy("You may no longer recycle to nurture leads."),
    )
)


# --- assign (managers; the rules are handover's ``lead_reassign``) --------------------------------


def may_assign(user: User) -> bool:
    return user.has_perm(HandoverPerm.REASSIGN)


def _assign_clean(data: Mapping[str, str], actor: User) -> Params:
    owner = data.get("owner", "")
    choices = dict(handover_selectors.reassign_choices(user=actor))
    if not owner.isdigit() or len(owner) > 18 or int(owner) not in choices:
        raise ValidationError({"owner": _("Choose a rep of a team you manage to assign them to.")})
    return {"owner": int(owner), "owner_name": choices[int(owner)]}


def _assigned_in_bulk(name: str) -> str:
    """The reassign notification's reason, written in its recipient's language."""
    return _("assigned by %(user)s in bulk") % {"user": name}


def _assign_apply(*, lead: Lead, actor: User, params: Params) -> str:
    if lead.owner_id == params["owner"]:
        return Result.UNCHANGED
    handover_services.lead_reassign(
        lead_id=lead.pk,
        owner_id=params["owner"],
        actor=actor,
        why=partial(_assigned_in_bulk, str(actor)),
    )
    return Result.APPLIED


register(
    BulkAction(
        code="assign",
        label=gettext_lazy("Assign"),
        permitted=may_assign,
        clean=_assign_clean,
        describe=lambda p: _("Assign to %(owner)s") % {"owner": p["owner_name"]},
        apply=_assign_apply,
        not_permitted=gettext_lazy("You may not assign leads."),
        no_longer_permitted=gettext_lazy("You may no longer assign leads."),
    )
)


# --- tag / untag (leads.tags) ----------------------------------------------------------------------


def may_tag(user: User) -> bool:
    return user.has_perm(LeadPerm.CHANGE_LEAD)


def _tag_clean(data: Mapping[str, str], actor: User) -> Params:
    name = tags.clean_tag_name(data.get("tag_name", ""), field="tag_name")
    op = data.get("tag_op", "add")
    if op not in ("add", "remove"):
        raise ValidationError({"tag_op": _("Choose whether to add the tag or remove it.")})
    if op == "remove" and tags.tag_find(name) is None:
        raise ValidationError(
            {"tag_name": _("There is no tag “%(tag)s” to remove.") % {"tag": name}}
        )
    return {"tag": name, "op": op}


def _tag_apply(*, lead: Lead, actor: User, params: Params) -> str:
    change = tags.lead_tag if params["op"] == "add" else tags.lead_untag
    changed = change(lead_id=lead.pk, name=params["tag"], actor=actor)
    return Result.APPLIED if changed else Result.UNCHANGED


register(
    BulkAction(
        code="tag",
        label=gettext_lazy("Tag"),
        permitted=may_tag,
        clean=_tag_clean,
        describe=lambda p: (_("Tag “%(tag)s”") if p["op"] == "add" else _("Untag “%(tag)s”"))
        % {"tag": p["tag"]},
        apply=_tag_apply,
        not_permitted=gettext_lazy("You may not tag leads."),
        no_longer_permitted=gettext_lazy("You may no longer tag leads."),
    )
)

"""The lifecycle as data: stages, the allowed moves and which actor kinds may make each.

Pure: no database. Every stage change in the product is checked against ``ALLOWED`` by
``leads.services._move_stage``; nothing else decides whether a move is legal.
"""

from enum import StrEnum
from typing import Final

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from leadflow.exceptions import DomainError


class Stage(models.TextChoices):
    SUSPECT = "suspect", _("Suspect")
    LEAD = "lead", _("Lead")
    # Translators: the abbreviation of "marketing qualified lead" (a lifecycle stage)
    MQL = "mql", _("MQL")
    # Translators: the abbreviation of "sales accepted lead" (a lifecycle stage)
    SAL = "sal", _("SAL")
    # Translators: the abbreviation of "sales qualified lead" (a lifecycle stage)
    SQL = "sql", _("SQL")
    CUSTOMER = "customer", _("Customer")
    NURTURE = "nurture", _("Nurture (recycled)")
    DISQUALIFIED = "disqualified", _("Disqualified")


# What each stage means, for a page to show beside its label (a title, a tooltip, a legend).
STAGE_EXPLANATIONS: Final[dict[Stage, Promise]] = {
    Stage.SUSPECT: _("Not yet checked against the ideal customer profile"),
    Stage.LEAD: _("Fits the ideal customer profile"),
    Stage.MQL: _("Marketing qualified lead"),
    Stage.SAL: _("Sales accepted lead"),
    Stage.SQL: _("Sales qualified lead"),
    Stage.CUSTOMER: _("Won: the lead became a customer"),
    Stage.NURTURE: _("Back with marketing: not ready yet, lost or gone quiet"),
    Stage.DISQUALIFIED: _("Out of the funnel: a bad fit, a duplicate or a competitor"),
}


# The funnel order, used by boards and "reached at least" reports. Nurture and Disqualified
# are side paths, not funnel steps.
FUNNEL: Final[tuple[Stage, ...]] = (
    Stage.SUSPECT,
    Stage.LEAD,
    Stage.MQL,
    Stage.SAL,
    Stage.SQL,
    Stage.CUSTOMER,
)


class ActorKind(StrEnum):
    SYSTEM = "system"  # scoring, SLA escalation, imports of history
    MARKETER = "marketer"
    SALES_REP = "sales_rep"
    MANAGER = "manager"  # sales manager; admins act as managers
    INTEGRATION = "integration"  # API keys


_S, _M, _R, _G, _I = (
    ActorKind.SYSTEM,
    ActorKind.MARKETER,
    ActorKind.SALES_REP,
    ActorKind.MANAGER,
    ActorKind.INTEGRATION,
)

# from-stage -> {to-stage: actor kinds allowed to make that move}
ALLOWED: Final[dict[Stage, dict[Stage, frozenset[ActorKind]]]] = {
    Stage.SUSPECT: {
        Stage.LEAD: frozenset({_S, _M, _G, _I}),  # fits the ideal customer profile
        Stage.DISQUALIFIED: frozenset({_M, _G}),
    },
    Stage.LEAD: {
        Stage.MQL: frozenset({_S, _M, _G, _I}),  # engagement score crossed the threshold
        Stage.NURTURE: frozenset({_S, _M, _G}),
        Stage.DISQUALIFIED: frozenset({_M, _G}),
    },
    Stage.MQL: {
        Stage.SAL: frozenset({_R, _G}),  # a rep accepted the handover
        Stage.NURTURE: frozenset({_S, _R, _M, _G}),  # rejected: not ready / score fell
        Stage.DISQUALIFIED: frozenset({_R, _G}),  # rejected: bad fit, duplicate, ...
    },
    Stage.SAL: {
        Stage.SQL: frozenset({_R, _G}),  # passed the qualification checklist
        Stage.NURTURE: frozenset({_R, _G}),
        Stage.DISQUALIFIED: frozenset({_R, _G}),
    },
    Stage.SQL: {
        Stage.CUSTOMER: frozenset({_R, _G, _I}),  # won (the CRM may report it)
        Stage.NURTURE: frozenset({_R, _G, _I}),  # lost, recycle
        Stage.DISQUALIFIED: frozenset({_R, _G}),
    },
    Stage.NURTURE: {
        Stage.MQL: frozenset({_S, _M, _G}),  # re-engaged: crosses the threshold again
        Stage.DISQUALIFIED: frozenset({_M, _G}),
    },
    Stage.DISQUALIFIED: {
        Stage.NURTURE: frozenset({_M, _G}),  # reopened by a person, never automatically
    },
    Stage.CUSTOMER: {},
}

# Moves that must carry a human-readable reason (shown in the board's reason prompt).
REASON_REQUIRED: Final[frozenset[Stage]] = frozenset({Stage.NURTURE, Stage.DISQUALIFIED})


# Leaving the funnel after sales accepted the lead: these moves name a coded exit reason
# (``ExitReason``), so the reasons can be counted. Only people and integrations make them.
EXIT_AFTER_ACCEPTANCE: Final[frozenset[tuple[Stage, Stage]]] = frozenset(
    (a, b) for a in (Stage.SAL, Stage.SQL) for b in (Stage.NURTURE, Stage.DISQUALIFIED)
)


class InvalidTransitionError(DomainError):
    code = "invalid_transition"


class TransitionNotPermittedError(DomainError):
    code = "transition_not_permitted"
    status = 403


class ReasonRequiredError(DomainError):
    code = "reason_required"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message, field="reason")


# Moves people make in the SAL inbox, not on the board or in bulk: accepting any MQL, and a rep's
# rejecting one (the inbox records the rejection reason and who decided).
INBOX_ONLY: Final[frozenset[tuple[Stage, Stage]]] = frozenset({(Stage.MQL, Stage.SAL)})
INBOX_MESSAGE: Final = _("Accept or reject MQLs in the SAL inbox.")


def inbox_decides(kind: ActorKind | None, from_stage: Stage, to: Stage) -> bool:
    """Moves that are handover decisions: accepting any MQL, and a rep's rejecting one."""
    return (from_stage, to) in INBOX_ONLY or (
        kind == ActorKind.SALES_REP and from_stage == Stage.MQL
    )


def allowed_targets(current: Stage, actor: ActorKind | None = None) -> list[Stage]:
    """Stages reachable from ``current`` (by ``actor`` when given), in declaration order."""
    moves = ALLOWED[current]
    return [to for to, actors in moves.items() if actor is None or actor in actors]


# How an illegal move names who may make it ("Only a sales rep or manager can ..."): the first
# role with its article, the others without. The system (scoring, SLA jobs) is left out: it is
# never the one a person is told to ask.
_ROLES: Final[dict[ActorKind, Promise]] = {
    # Translators: a role in "Only a marketer, sales rep or manager can move a lead ..."
    ActorKind.MARKETER: _("marketer"),
    # Translators: a role in "Only a marketer, sales rep or manager can move a lead ..."
    ActorKind.SALES_REP: _("sales rep"),
    # Translators: a role in "Only a marketer, sales rep or manager can move a lead ..."
    ActorKind.MANAGER: _("manager"),
    # Translators: a role in "Only a sales rep, manager or integration (API key) can ..."
    ActorKind.INTEGRATION: _("integration (API key)"),
}
# The same roles as the first of a list, or as "you act as ...", with their article.
_A_ROLE: Final[dict[ActorKind, Promise]] = {
    # Translators: "Only a marketer or manager can ...", "(you act as a marketer)"
    ActorKind.MARKETER: _("a marketer"),
    # Translators: "Only a sales rep or manager can ...", "(you act as a sales rep)"
    ActorKind.SALES_REP: _("a sales rep"),
    # Translators: "Only a manager can ...", "(you act as a manager)"
    ActorKind.MANAGER: _("a manager"),
    # Translators: "Only an integration (API key) can ...", "(you act as an integration (API key))"
    ActorKind.INTEGRATION: _("an integration (API key)"),
    # Translators: "(you act as a system)": the move was made by LeadFlow's own jobs
    ActorKind.SYSTEM: _("a system"),
}


def who_may(current: Stage, to: Stage) -> str:
    """``"a sales rep or manager"``: the people the table lets move ``current`` -> ``to``."""
    actors = ALLOWED[current].get(to, frozenset())
    kinds = [kind for kind in _ROLES if kind in actors]
    if not kinds:
        return gettext("LeadFlow itself (automatically)")
    first = str(_A_ROLE[kinds[0]])
    if len(kinds) == 1:
        return first
    others = [str(_ROLES[kind]) for kind in kinds[1:]]
    # Translators: the end of a list of roles: "a marketer, sales rep or manager"
    return gettext("%(roles)s or %(last)s") % {
        "roles": ", ".join([first, *others[:-1]]),
        "last": others[-1],
    }


def ensure_allowed(current: Stage, to: Stage, actor: ActorKind, reason: str = "") -> None:
    """Raise unless ``actor`` may move a lead from ``current`` to ``to`` with this ``reason``.
    The message says what is illegal and, for a move the table has, who may make it."""
    actors = ALLOWED[current].get(to)
    stages = {"current": current.label, "to": to.label}
    if actors is None:
        reachable = [str(s.label) for s in allowed_targets(current)]
        if reachable:
            message = gettext(
                "A lead cannot move from %(current)s to %(to)s: from %(current)s it can only go "
                "to %(targets)s."
            ) % {**stages, "targets": ", ".join(reachable)}
        else:
            message = (
                gettext(
                    "A lead cannot move from %(current)s to %(to)s: %(current)s is the last stage."
                )
                % stages
            )
        raise InvalidTransitionError(message, field="stage")
    if actor not in actors:
        you = _A_ROLE.get(actor, actor.value.replace("_", " "))
        raise TransitionNotPermittedError(
            # Translators: who: "a sales rep or manager"; you: "a marketer"
            gettext("Only %(who)s can move a lead from %(current)s to %(to)s (you act as %(you)s).")
            % {**stages, "who": who_may(current, to), "you": you},
            field="stage",
        )
    if to in REASON_REQUIRED and not reason.strip():
        raise ReasonRequiredError(
            gettext("Moving a lead to %(stage)s needs a reason.") % {"stage": to.label}
        )

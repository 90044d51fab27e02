"""The lifecycle as data: stages, the allowed moves and which actor kinds may make each.

Pure: no database. Every stage change in the product is checked against ``ALLOWED`` by
``leads.services._move_stage``; nothing else decides whether a move is legal.
"""

from enum import StrEnum
from typing import Final

from django.db import models

from leadflow.exceptions import DomainError


class Stage(models.TextChoices):
    SUSPECT = "suspect", "Suspect"
    LEAD = "lead", "Lead"
    MQL = "mql", "MQL"
    SAL = "sal", "SAL"
    SQL = "sql", "SQL"
    CUSTOMER = "customer", "Customer"
    NURTURE = "nurture", "Nurture (recycled)"
    DISQUALIFIED = "disqualified", "Disqualified"


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
INBOX_MESSAGE: Final = "Accept or reject MQLs in the SAL inbox."


def inbox_decides(kind: ActorKind | None, from_stage: Stage, to: Stage) -> bool:
    """Moves that are handover decisions: accepting any MQL, and a rep's rejecting one."""
    return (from_stage, to) in INBOX_ONLY or (
        kind == ActorKind.SALES_REP and from_stage == Stage.MQL
    )


def allowed_targets(current: Stage, actor: ActorKind | None = None) -> list[Stage]:
    """Stages reachable from ``current`` (by ``actor`` when given), in declaration order."""
    moves = ALLOWED[current]
    return [to for to, actors in moves.items() if actor is None or actor in actors]


# How an illegal move names who may make it ("Only a sales rep or manager can ..."). The
# system (scoring, SLA jobs) is left out: it is never the one a person is told to ask.
_ACTOR_NAMES: Final[dict[ActorKind, str]] = {
    ActorKind.MARKETER: "marketer",
    ActorKind.SALES_REP: "sales rep",
    ActorKind.MANAGER: "manager",
    ActorKind.INTEGRATION: "integration (API key)",
}


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def who_may(current: Stage, to: Stage) -> str:
    """``"a sales rep or manager"``: the people the table lets move ``current`` -> ``to``."""
    actors = ALLOWED[current].get(to, frozenset())
    names = [name for kind, name in _ACTOR_NAMES.items() if kind in actors]
    if not names:
        return "LeadFlow itself (automatically)"
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return _a(listed)


def ensure_allowed(current: Stage, to: Stage, actor: ActorKind, reason: str = "") -> None:
    """Raise unless ``actor`` may move a lead from ``current`` to ``to`` with this ``reason``.
    The message says what is illegal and, for a move the table has, who may make it."""
    actors = ALLOWED[current].get(to)
    if actors is None:
        reachable = [s.label for s in allowed_targets(current)]
        where = (
            f"from {current.label} it can only go to {', '.join(reachable)}"
            if reachable
            else f"{current.label} is the last stage"
        )
        raise InvalidTransitionError(
            f"A lead cannot move from {current.label} to {to.label}: {where}.", field="stage"
        )
    if actor not in actors:
        you = _ACTOR_NAMES.get(actor, actor.value.replace("_", " "))
        raise TransitionNotPermittedError(
            f"Only {who_may(current, to)} can move a lead from {current.label} to {to.label} "
            f"(you act as {_a(you)}).",
            field="stage",
        )
    if to in REASON_REQUIRED and not reason.strip():
        raise ReasonRequiredError(f"Moving a lead to {to.label} needs a reason.")

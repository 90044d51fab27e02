"""Rule precision: how the leads a rule gave points to fared once handed to sales, beside the
leads handed over without it. Shown in the rules editor; docs/scoring.md#rule-precision.

Scoring sits below handover, which knows how handovers ended: handover registers the function
that counts them (``register``) when it starts, and scoring only asks (``rule_precision``)."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Final

from django.utils import timezone

from scoring.models import ScoringRule

WINDOW_DAYS: Final = 180  # handovers opened in the last 180 days


@dataclass(frozen=True)
class Outcomes:
    """Handovers opened in the window, and how they ended (a handover counts once per rule)."""

    handovers: int = 0
    decided: int = 0  # accepted or rejected (open and cancelled ones are not decided)
    accepted: int = 0
    sql: int = 0  # the lead reached SQL after the handover opened
    won: int = 0  # ... and Customer

    def __add__(self, other: "Outcomes") -> "Outcomes":
        return Outcomes(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __sub__(self, other: "Outcomes") -> "Outcomes":
        return Outcomes(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    @property
    def accept_rate(self) -> float | None:
        return _rate(self.accepted, self.decided)

    @property
    def sql_rate(self) -> float | None:
        return _rate(self.sql, self.handovers)

    @property
    def win_rate(self) -> float | None:
        return _rate(self.won, self.handovers)


@dataclass(frozen=True)
class RulePrecision:
    rule: ScoringRule
    with_rule: Outcomes
    without: Outcomes  # every other handover of the window

    def lift(self, rate: str) -> float | None:
        """The rate with the rule minus without it, in percentage points (``rate``: accept,
        sql or win); None while either side has nothing to count."""
        mine, theirs = (
            getattr(self.with_rule, rate + "_rate"),
            getattr(self.without, rate + "_rate"),
        )
        return None if mine is None or theirs is None else round((mine - theirs) * 100, 1)


Counter = Callable[[Sequence[uuid.UUID], datetime], tuple[dict[uuid.UUID, Outcomes], Outcomes]]
_counters: list[Counter] = []


def register(counter: Counter) -> None:
    """``counter(rule_keys, since)``: the outcomes per rule key and of all handovers."""
    _counters[:] = [counter]


def rule_precision(
    rules: Sequence[ScoringRule], *, days: int = WINDOW_DAYS, now: datetime | None = None
) -> tuple[list[RulePrecision], Outcomes] | None:
    """Each rule's precision over the handovers opened in the last ``days``, and all of them;
    None when nothing counts handovers (handover not installed)."""
    if not _counters:
        return None
    since = (now or timezone.now()) - timedelta(days=days)
    by_key, total = _counters[0]([r.key for r in rules], since)
    out = []
    for rule in rules:
        mine = by_key.get(rule.key, Outcomes())
        out.append(RulePrecision(rule=rule, with_rule=mine, without=total - mine))
    return out, total


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None

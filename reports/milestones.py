"""The per-lead milestone rollup as a pure fold over one lead's stage log (no database).

Every report that counts leads by how far they got reads ``reports.LeadMilestone``, one row per
lead, computed here from the lead's ``StageChange`` rows in (changed_at, id) order. The same
function serves the in-transaction refresh (``stage_changed`` receiver) and the bulk rebuild, so
the two can never disagree. Definitions are in ``docs/reports.md``.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from leads.lifecycle import FUNNEL, Stage

# Stages whose completed stays are summed into ``seconds_in`` (Customer is terminal).
TIMED: Final[tuple[Stage, ...]] = (
    Stage.SUSPECT,
    Stage.LEAD,
    Stage.MQL,
    Stage.SAL,
    Stage.SQL,
    Stage.NURTURE,
)
_RANK: Final[dict[str, int]] = {s.value: i for i, s in enumerate(FUNNEL)}


@dataclass(frozen=True)
class Change:
    to_stage: str
    changed_at: datetime
    from_stage: str = ""


@dataclass
class Milestones:
    # reached-at-least: the first time the lead entered this funnel stage or any later one
    reached: dict[Stage, datetime | None] = field(default_factory=lambda: dict.fromkeys(FUNNEL))
    # summed completed stays per stage, in seconds (None: no completed stay in that stage)
    seconds_in: dict[Stage, float | None] = field(default_factory=lambda: dict.fromkeys(TIMED))
    stage: str = ""
    stage_since: datetime | None = None
    recycles: int = 0  # moves into Nurture
    first_recycled_at: datetime | None = None
    requalified_at: datetime | None = None  # first MQL after the first recycle
    sql_after_recycle_at: datetime | None = None  # first SQL after the first recycle
    disqualified_at: datetime | None = None  # first move into Disqualified
    skips: int = 0  # funnel stages jumped over by forward moves (e.g. MQL → SQL skips SAL)


def fold(changes: Iterable[Change]) -> Milestones:
    """Fold one lead's changes, already sorted by (changed_at, id), into its milestones."""
    m = Milestones()
    current: str | None = None
    since: datetime | None = None
    highest = -1  # the furthest funnel rank entered so far
    for change in changes:
        to, at = change.to_stage, change.changed_at
        if current is not None and since is not None and current in _TIMED_VALUES:
            stage = Stage(current)
            m.seconds_in[stage] = (m.seconds_in[stage] or 0.0) + (at - since).total_seconds()
        rank = _RANK.get(to)
        if rank is not None:
            if highest >= 0 and rank > highest + 1:
                m.skips += rank - highest - 1
            for earlier in FUNNEL[: rank + 1]:
                if m.reached[earlier] is None:
                    m.reached[earlier] = at
            highest = max(highest, rank)
        if to == Stage.NURTURE:
            m.recycles += 1
            if m.first_recycled_at is None:
                m.first_recycled_at = at
        elif to == Stage.DISQUALIFIED and m.disqualified_at is None:
            m.disqualified_at = at
        if m.first_recycled_at is not None and at >= m.first_recycled_at:
            if to == Stage.MQL and m.requalified_at is None:
                m.requalified_at = at
            if to == Stage.SQL and m.sql_after_recycle_at is None:
                m.sql_after_recycle_at = at
        current, since = to, at
    m.stage = current or ""
    m.stage_since = since
    return m


_TIMED_VALUES: Final[frozenset[str]] = frozenset(s.value for s in TIMED)

"""The six attribution models: how one outcome's credit is shared among the touches before it.

Pure functions of the touches' times and roles; exact definitions in docs/reports.md
(#attribution). Credit is counted in parts per million (ppm) and shared out by largest
remainder, so the credits of one outcome always sum to exactly 1,000,000 under every model,
and revenue shared the same way (in cents) sums to exactly the deal's value: rollups add
integers, never floats that drift.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from django.utils.translation import gettext_lazy as _

WHOLE: Final = 1_000_000  # one outcome's credit, in ppm

# name -> label, in the order reports show them
MODELS: Final = {
    "first": _("First touch"),
    "last": _("Last touch"),
    "linear": _("Linear"),
    "time_decay": _("Time decay"),
    "u_shaped": _("U-shaped (40/20/40)"),
    "w_shaped": _("W-shaped (30/30/30/10)"),
}
MODEL_NAMES: Final = tuple(MODELS)


@dataclass(frozen=True)
class Point:
    """One touch as the models see it: when, and whether it created the lead."""

    at: datetime
    created: bool = False


def weights(
    touches: Sequence[Point],
    *,
    sql_at: datetime | None,
    half_life_days: float,
) -> dict[str, list[float]]:
    """Each model's share per touch (floats summing to 1). ``touches``: those at or before the
    outcome, oldest first (at least one). ``sql_at``: the lead's entry into SQL when the outcome
    is at or after it (W-shaped's third key touch), else None. Time decay needs no outcome
    time: 2^(-(T - t)/h), normalised, is the same for any T."""
    n = len(touches)
    if n == 0:
        raise ValueError("an outcome needs at least one touch")
    first = [0.0] * n
    first[0] = 1.0
    last = [0.0] * n
    last[-1] = 1.0
    half_life = half_life_days * 86400.0
    # 2^(-age/half-life), ages taken from the newest touch rather than the outcome (the same
    # shares once normalised): the newest weighs 1, so old touches cannot all underflow to 0
    newest = max(t.at for t in touches)
    decay = [2.0 ** (-(newest - t.at).total_seconds() / half_life) for t in touches]
    total = sum(decay)
    return {
        "first": first,
        "last": last,
        "linear": [1.0 / n] * n,
        "time_decay": [w / total for w in decay],
        "u_shaped": _u_shaped(n),
        "w_shaped": _w_shaped(touches, sql_at),
    }


def _u_shaped(n: int) -> list[float]:
    """40 % first, 40 % last, 20 % shared by the touches between; one touch takes all, two
    take half each."""
    if n <= 2:
        return [1.0 / n] * n
    middle = 0.2 / (n - 2)
    return [0.4] + [middle] * (n - 2) + [0.4]


def _w_shaped(touches: Sequence[Point], sql_at: datetime | None) -> list[float]:
    """Key roles share 90 %: the first touch, the lead-creation touch and (for outcomes at or
    after SQL) the last touch at or before entering SQL — 30 % each, or 45 % each when there is
    no SQL role. One touch may hold several roles. The other touches share 10 %; with none,
    the roles share everything."""
    n = len(touches)
    roles = [0]
    created = next((i for i, t in enumerate(touches) if t.created), 0)
    roles.append(created)
    if sql_at is not None:
        roles.append(max(i for i, t in enumerate(touches) if t.at <= sql_at or i == 0))
    others = [i for i in range(n) if i not in roles]
    key_share = 0.9 if others else 1.0
    shares = [0.0] * n
    for i in roles:
        shares[i] += key_share / len(roles)
    for i in others:
        shares[i] += 0.1 / len(others)
    return shares


def to_ppm(shares: Sequence[float]) -> list[int]:
    """Shares summing to 1 as integers summing to exactly ``WHOLE`` (largest remainder; ties go
    to the earlier touch)."""
    total = sum(shares)
    exact = [s / total * WHOLE for s in shares]
    out = [int(e) for e in exact]
    rest = WHOLE - sum(out)
    order = sorted(range(len(out)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[:rest]:
        out[i] += 1
    return out


def split_cents(cents: int, ppm: Sequence[int]) -> list[int]:
    """``cents`` shared in proportion to ``ppm`` (summing to ``WHOLE``), summing to exactly
    ``cents`` (largest remainder, in integers)."""
    if cents < 0:
        return [-c for c in split_cents(-cents, ppm)]
    exact = [divmod(cents * p, WHOLE) for p in ppm]
    out = [q for q, _r in exact]
    rest = cents - sum(out)
    order = sorted(range(len(out)), key=lambda i: (-exact[i][1], i))
    for i in order[:rest]:
        out[i] += 1
    return out

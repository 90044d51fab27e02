"""The generator's ``reopen`` option: longer, recycled histories that obey the lifecycle."""

from datetime import UTC, datetime

import pytest

from leads.demo_data import generate
from leads.lifecycle import EXIT_AFTER_ACCEPTANCE, ActorKind, Stage, ensure_allowed
from leads.models import ExitReason

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.django_db
def test_reopen_makes_longer_recycled_histories_of_allowed_moves() -> None:
    def histories(**reopen: float) -> list[list[tuple[str, str, str, str, datetime, str]]]:
        leads = generate(
            seed=5,
            count=400,
            activities_per_lead=0.0,
            anchor=ANCHOR,
            owners=[],
            reopen=reopen.get("reopen", 0.0),
        )
        return [lead.history for lead in leads]

    plain = [
        g.history
        for g in generate(seed=5, count=400, activities_per_lead=0.0, anchor=ANCHOR, owners=[])
    ]
    assert histories(reopen=0.0) == plain  # 0 draws nothing extra: old seeds keep their rows
    reopened = histories(reopen=0.95)
    assert sum(map(len, reopened)) > 1.4 * sum(map(len, plain))
    moves = [(frm, to) for h in reopened for frm, to, *_ in h[1:]]
    assert (Stage.NURTURE, Stage.MQL) in moves
    assert (Stage.DISQUALIFIED, Stage.NURTURE) in moves
    for history in reopened:
        for (frm, to, kind, reason, at, code), previous in zip(history[1:], history, strict=False):
            assert frm == previous[1]
            assert at >= previous[4]
            assert at < ANCHOR
            ensure_allowed(Stage(frm), Stage(to), ActorKind(kind), reason)
            # exits after acceptance name a default exit reason that fits, as a rep must
            if (Stage(frm), Stage(to)) in EXIT_AFTER_ACCEPTANCE:
                assert ExitReason.objects.get(code=code).fits(to)
                assert reason == ExitReason.objects.get(code=code).label
            else:
                assert code == ""

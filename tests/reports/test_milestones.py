from datetime import UTC, datetime, timedelta

from leads.lifecycle import Stage
from reports.milestones import Change, fold

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_reached_at_least_fills_skipped_stages_with_the_skip_time() -> None:
    m = fold([Change("suspect", h(0)), Change("mql", h(48), "suspect")])
    assert m.reached[Stage.SUSPECT] == h(0)
    assert m.reached[Stage.LEAD] == h(48)  # skipped: reached when it jumped past it
    assert m.reached[Stage.MQL] == h(48)
    assert m.reached[Stage.SAL] is None
    assert m.skips == 1
    assert m.seconds_in[Stage.SUSPECT] == 48 * 3600
    assert m.seconds_in[Stage.LEAD] is None  # never in Lead
    assert m.seconds_in[Stage.MQL] is None  # still there: the open stay is not counted
    assert (m.stage, m.stage_since) == ("mql", h(48))


def test_recycle_sums_both_stays_and_keeps_the_first_reach() -> None:
    m = fold(
        [
            Change("suspect", h(0)),
            Change("lead", h(1)),
            Change("mql", h(2)),
            Change("nurture", h(26)),
            Change("mql", h(50)),
            Change("sal", h(53)),
            Change("sql", h(60)),
            Change("nurture", h(70)),
            Change("mql", h(80)),
        ]
    )
    assert m.reached[Stage.MQL] == h(2)
    assert m.reached[Stage.SQL] == h(60)
    assert m.seconds_in[Stage.MQL] == (24 + 3) * 3600
    assert m.seconds_in[Stage.NURTURE] == (24 + 10) * 3600
    assert m.recycles == 2
    assert m.first_recycled_at == h(26)
    assert m.requalified_at == h(50)
    assert m.sql_after_recycle_at == h(60)
    assert m.skips == 0


def test_same_instant_moves_are_zero_length_stays() -> None:
    m = fold([Change("suspect", h(0)), Change("lead", h(0)), Change("mql", h(0))])
    assert m.seconds_in[Stage.SUSPECT] == 0.0
    assert m.seconds_in[Stage.LEAD] == 0.0
    assert all(m.reached[s] == h(0) for s in (Stage.SUSPECT, Stage.LEAD, Stage.MQL))


def test_disqualified_and_creation_in_a_later_stage() -> None:
    m = fold([Change("sql", h(0)), Change("disqualified", h(5), "sql")])
    assert m.reached[Stage.SUSPECT] == m.reached[Stage.SQL] == h(0)
    assert m.reached[Stage.CUSTOMER] is None
    assert m.skips == 0  # created in a later stage is an entry, not a skip
    assert m.disqualified_at == h(5)
    assert m.stage == "disqualified"


def test_empty_history() -> None:
    m = fold([])
    assert m.stage == ""
    assert all(v is None for v in m.reached.values())

"""The six models: credits of one outcome sum to exactly one whole, revenue to exactly the deal,
under every model, for any touches (property-tested); and the worked example of the docs."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from attribution.credit import MODEL_NAMES, WHOLE, Point, split_cents, to_ppm, weights

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@st.composite
def journeys(draw):
    """1-40 touches over up to 400 days, one of them the lead's creation, an outcome at or after
    the last, and an SQL entry somewhere (or none)."""
    offsets = sorted(draw(st.lists(st.integers(0, 400 * 86400), min_size=1, max_size=40)))
    created = draw(st.integers(0, len(offsets) - 1))
    touches = [Point(T0 + timedelta(seconds=s), i == created) for i, s in enumerate(offsets)]
    outcome = touches[-1].at + timedelta(seconds=draw(st.integers(0, 90 * 86400)))
    sql = draw(st.one_of(st.none(), st.integers(0, 500 * 86400)))
    sql_at = None if sql is None else min(T0 + timedelta(seconds=sql), outcome)
    return touches, outcome, sql_at


@given(journeys(), st.floats(0.01, 365), st.integers(-(10**12), 10**12))
def test_every_model_shares_out_exactly_one_outcome_and_its_revenue(journey, half_life, cents):
    touches, _outcome, sql_at = journey
    shares = weights(touches, sql_at=sql_at, half_life_days=half_life)
    assert set(shares) == set(MODEL_NAMES)
    for name, share in shares.items():
        assert len(share) == len(touches)
        assert all(s >= 0 for s in share), name
        ppm = to_ppm(share)
        assert sum(ppm) == WHOLE, name
        assert all(p >= 0 for p in ppm), name
        revenue = split_cents(cents, ppm)
        assert sum(revenue) == cents, name


def test_the_worked_example_of_the_docs():
    """docs/reports.md#attribution: four touches, the lead created at the second, SQL after the
    third, won 10 days after the fourth; half-life 7 days."""
    at = [T0, T0 + timedelta(days=10), T0 + timedelta(days=20), T0 + timedelta(days=30)]
    touches = [Point(at[0]), Point(at[1], created=True), Point(at[2]), Point(at[3])]
    shares = weights(touches, sql_at=at[2] + timedelta(days=1), half_life_days=7)
    ppm = {name: to_ppm(s) for name, s in shares.items()}
    assert ppm["first"] == [WHOLE, 0, 0, 0]
    assert ppm["last"] == [0, 0, 0, WHOLE]
    assert ppm["linear"] == [250_000] * 4
    assert ppm["u_shaped"] == [400_000, 100_000, 100_000, 400_000]
    # first, creation and the SQL touch 30 % each; the one other touch 10 %
    assert ppm["w_shaped"] == [300_000, 300_000, 300_000, 100_000]
    # weights 2^(-40/7), 2^(-30/7), 2^(-20/7), 2^(-10/7), normalised
    raw = [2 ** (-d / 7) for d in (40, 30, 20, 10)]
    expected = [round(w / sum(raw) * WHOLE) for w in raw]
    assert ppm["time_decay"] == expected == [32_850, 88_424, 238_021, 640_705]
    assert split_cents(1000_00, ppm["u_shaped"]) == [400_00, 100_00, 100_00, 400_00]
    assert split_cents(1, ppm["linear"]) == [1, 0, 0, 0]  # the cent goes to the earliest


def test_one_touch_takes_everything_and_roles_may_coincide():
    only = [Point(T0, created=True)]
    for share in weights(only, sql_at=T0, half_life_days=7).values():
        assert to_ppm(share) == [WHOLE]
    two = [Point(T0, created=True), Point(T0 + timedelta(days=1))]
    shares = weights(two, sql_at=None, half_life_days=7)
    assert to_ppm(shares["u_shaped"]) == [500_000, 500_000]
    # first and creation are one touch (two roles of 45 %), the other touch is 10 %
    assert to_ppm(shares["w_shaped"]) == [900_000, 100_000]

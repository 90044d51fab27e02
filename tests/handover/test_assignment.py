"""Each assignment rule: territory, round-robin, weights, capacity, availability, fallback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from handover.models import Handover, OutOfOffice, RepProfile
from tests.handover.factories import calendar, rule

pytestmark = pytest.mark.django_db


def owners(make_mql, n, **fields):
    return [Handover.objects.get(lead=make_mql(**fields)).owner for _ in range(n)]


def test_territory_rules_are_evaluated_in_order(make_mql, reps, team):
    rule(
        "DACH software",
        team=team,
        members=[reps[0]],
        position=1,
        countries=["de", "at"],
        industries=["software"],
    )
    rule("Enterprise", team=team, members=[reps[1]], position=2, company_sizes=["5001+"])
    rule("Everyone else", team=team, members=[reps[2]], position=3)
    assert owners(make_mql, 1, country="DE", industry="Software", company_size="5001+") == [reps[0]]
    assert owners(make_mql, 1, country="FR", industry="Software", company_size="5001+") == [reps[1]]
    assert owners(make_mql, 1, country="FR", industry="Retail", company_size="1-10") == [reps[2]]


def test_round_robin_within_a_team(make_mql, reps, team):
    rule("rr", team=team, members=reps)
    got = owners(make_mql, 6)
    assert got == [reps[0], reps[1], reps[2], reps[0], reps[1], reps[2]]
    lead = Handover.objects.first().lead
    assert lead.team == team


def test_weights_share_leads_in_proportion(make_mql, reps, team):
    rule("weighted", team=team, members=[(reps[0], 3), (reps[1], 1)])
    got = owners(make_mql, 8)
    assert got.count(reps[0]) == 6
    assert got.count(reps[1]) == 2


def test_capacity_cap_per_period_skips_a_full_rep(make_mql, reps, team):
    rule("capped", team=team, members=reps[:2], capacity=1, capacity_period="day")
    got = owners(make_mql, 3)
    assert got[:2] == [reps[0], reps[1]]
    assert got[2] is None  # everyone full: the team queue
    assert Handover.objects.filter(owner__isnull=True, team=team).count() == 1


def test_out_of_office_rep_is_skipped(make_mql, reps, team):
    now = timezone.now()
    OutOfOffice.objects.create(
        user=reps[0], starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=2)
    )
    OutOfOffice.objects.create(
        user=reps[1], starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=2)
    )
    rule("rr", team=team, members=reps[:2])
    assert owners(make_mql, 2) == [reps[1], reps[1]]


def test_working_hours_skip_reps_off_shift_when_the_rule_asks(make_mql, reps, team):
    # one minute a week, three days from now: a fixed Sunday 00:00-00:01 matched when CI ran then
    off_day = (timezone.now() + timedelta(days=3)).strftime("%a").lower()
    never = calendar(
        name="nightshift-only-on-holiday", working_hours={off_day: [["00:00", "00:01"]]}
    )
    RepProfile.objects.create(user=reps[0], calendar=never)
    RepProfile.objects.create(user=reps[2], accepts_leads=False)
    rule("rr", team=team, members=reps, require_working_hours=True)
    assert owners(make_mql, 2) == [reps[1], reps[1]]


def test_fallback_owner_then_unassigned_queue(make_mql, reps, team, manager):
    OutOfOffice.objects.create(
        user=reps[0],
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=5),
    )
    rule("DE", team=team, members=[reps[0]], countries=["DE"], fallback_owner=reps[2])
    assert owners(make_mql, 1, country="DE") == [reps[2]]
    lead = make_mql(country="US")  # no rule matches
    handover = Handover.objects.get(lead=lead)
    assert (handover.owner, handover.team) == (None, None)
    assert handover.assignments.get().why.startswith("no rule matched")


def test_capacity_periods_are_the_sites_whoever_assigns(settings):
    """A manager in Tokyo reassigning by hand must not move the day a cap counts (issue 21)."""
    from datetime import UTC, datetime

    from handover.services import _period_start

    settings.TIME_ZONE = "UTC"
    late = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)  # Thursday; 08:30 on Friday in Tokyo
    with timezone.override("Asia/Tokyo"):
        assert _period_start(late, "day") == datetime(2026, 3, 4, tzinfo=UTC)
        assert _period_start(late, "week") == datetime(2026, 3, 2, tzinfo=UTC)
        assert _period_start(late, "month") == datetime(2026, 3, 1, tzinfo=UTC)

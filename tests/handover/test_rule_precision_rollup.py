"""Rule precision's daily rollup: whatever the sweep has or has not rolled up yet, the counts are
exactly what the handovers say (an oracle here counts them in Python), and a change made while
the sweep runs is never lost."""

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from handover import rule_precision
from handover.models import Handover, HandoverRuleHit, RulePrecisionDay, RulePrecisionMark
from handover.services import handover_accept, handover_reject
from handover.tasks import rule_precision_refresh_task
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import Lead
from scoring.precision import Outcomes
from tests.handover.factories import passed_checklist

KEYS = [uuid.UUID(int=i) for i in range(1, 5)]
S = Handover.Status


def oracle(keys, since):
    """The counts straight from the rows, in Python."""
    handovers = {h.pk: h for h in Handover.objects.filter(opened_at__gte=since)}

    def outcomes(group):
        return Outcomes(
            handovers=len(group),
            decided=sum(h.status in (S.ACCEPTED, S.REJECTED) for h in group),
            accepted=sum(h.status == S.ACCEPTED for h in group),
            sql=sum(h.reached_sql_at is not None for h in group),
            won=sum(h.won_at is not None for h in group),
        )

    by_key: dict[uuid.UUID, list[Handover]] = {}
    for hit in HandoverRuleHit.objects.filter(rule_key__in=keys, handover_id__in=handovers):
        by_key.setdefault(hit.rule_key, []).append(handovers[hit.handover_id])
    return {k: outcomes(g) for k, g in by_key.items()}, outcomes(list(handovers.values()))


def assert_exact(rng, now):
    for since in [now - timedelta(days=d, seconds=rng.randrange(86400)) for d in (1, 45, 180)]:
        since = since.replace(microsecond=0)
        assert rule_precision.rule_outcomes(KEYS, since) == oracle(KEYS, since), since


def random_history(rng, now, n=240):
    leads = Lead.objects.bulk_create(
        Lead(stage=Stage.SAL, stage_changed_at=now, email=f"p{i}@example.com") for i in range(n)
    )
    handovers = []
    for lead in leads:
        opened = now - timedelta(seconds=rng.randrange(200 * 86400))
        reached = opened + timedelta(hours=1) if rng.random() < 0.4 else None
        handovers.append(
            Handover(
                lead=lead,
                status=rng.choice([S.OPEN, S.ACCEPTED, S.REJECTED, S.CANCELLED]),
                opened_at=opened,
                reached_sql_at=reached,
                won_at=reached and (reached if rng.random() < 0.5 else None),
            )
        )
    Handover.objects.bulk_create(handovers)
    HandoverRuleHit.objects.bulk_create(
        HandoverRuleHit(handover=h, rule_key=k, points=5)
        for h in handovers
        for k in KEYS
        if rng.random() < 0.4
    )
    return handovers


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_are_exact_before_during_and_after_the_sweep(seed):
    rng, now = random.Random(seed), timezone.now()
    handovers = random_history(rng, now)
    rule_precision.mark_all()  # loaded around the services, as the migration marks them
    assert_exact(rng, now)  # nothing rolled up: every day counted from the handovers
    assert rule_precision.refresh_marked(max_marks=17) > 0
    assert not RulePrecisionMark.objects.exists()
    assert RulePrecisionDay.objects.filter(rule_key=rule_precision.ALL_HANDOVERS).exists()
    assert_exact(rng, now)  # everything from the rollup but the window's first day
    for _ in range(3):  # writers change handovers; the sweep has not run yet, then it has
        for h in rng.sample(handovers, 25):
            change = rng.choice(
                [
                    {"status": S.ACCEPTED},
                    {"status": S.REJECTED},
                    {"reached_sql_at": h.opened_at},
                    {"won_at": h.opened_at, "reached_sql_at": h.opened_at},
                ]
            )
            rule_precision.mark_changing(Handover.objects.filter(pk=h.pk)).update(**change)
        gone = rng.choice(handovers)
        gone.lead.delete()  # its handover and hits go with it: marked by the delete signal
        handovers.remove(gone)
        assert_exact(rng, now)
        rule_precision.refresh_marked()
        assert_exact(rng, now)


@pytest.mark.django_db
def test_an_unmarked_change_would_be_missed_by_the_rollup():
    """The test above can fail: a change without its mark is invisible to the reader once the
    day is rolled up (why every writer marks)."""
    rng, now = random.Random(9), timezone.now()
    handovers = random_history(rng, now, n=40)
    rule_precision.mark_all()
    rule_precision.refresh_marked()
    since = now - timedelta(days=180)
    inside = next(h for h in handovers if h.opened_at > since + timedelta(days=2))
    Handover.objects.filter(pk=inside.pk).update(status=S.ACCEPTED, reached_sql_at=now)
    assert rule_precision.rule_outcomes(KEYS, since) != oracle(KEYS, since)
    rule_precision.mark_changing(Handover.objects.filter(pk=inside.pk))
    assert rule_precision.rule_outcomes(KEYS, since) == oracle(KEYS, since)


@pytest.mark.django_db
def test_the_services_mark_what_they_change(make_mql, manager, team):
    """Opening, accepting, rejecting, reaching SQL and Customer each mark the handover's day."""

    def marked():
        found = list(RulePrecisionMark.objects.values_list("day", flat=True))
        RulePrecisionMark.objects.all().delete()
        return found

    lead = make_mql(team=team)  # opens the handover
    handover = Handover.objects.get(lead=lead)
    today = [handover.opened_at.astimezone(UTC).date()]
    assert marked() == today
    handover_accept(handover_id=handover.pk, actor=manager)
    assert marked() == today
    passed_checklist(lead)
    lead_services.lead_mark_sql(lead_id=lead.pk, actor=manager, source="ui")
    assert marked() == today
    lead_services.lead_convert(lead_id=lead.pk, actor=manager, source="ui")
    assert marked() == today
    other = make_mql(team=team)
    marked()
    handover_reject(
        handover_id=Handover.objects.get(lead=other).pk, actor=manager, reason_code="no_budget"
    )
    assert marked() == today
    Lead.objects.filter(pk=other.pk).delete()
    assert marked() == today  # the handover went with its lead


@pytest.mark.django_db
def test_the_sweep_runs_on_the_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["handover-rule-precision-refresh"]
    assert entry["task"] == rule_precision_refresh_task.name
    rng, now = random.Random(5), timezone.now()
    random_history(rng, now, n=30)
    rule_precision.mark_all()
    assert rule_precision_refresh_task.delay().get() > 0
    assert not RulePrecisionMark.objects.exists()
    assert_exact(rng, now)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_while_the_sweep_recounts_keeps_its_mark(monkeypatch):
    """The sweep removes only the marks it read: a writer that changes a handover of a day the
    sweep is recounting, and commits before the sweep does, leaves its mark for the next sweep
    (removing the day's marks instead loses the change: the rollup keeps the old count)."""
    rng, now = random.Random(11), timezone.now()
    handovers = random_history(rng, now, n=30)
    rule_precision.mark_all()
    target = next(
        h for h in handovers if h.status == S.OPEN and h.opened_at < now - timedelta(days=3)
    )
    recount = rule_precision._recount

    def recount_then_a_writer_commits(days):
        recount(days)

        def write():
            with transaction.atomic():
                rule_precision.mark_changing(Handover.objects.filter(pk=target.pk)).update(
                    status=S.ACCEPTED
                )
            connection.close()

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()

    monkeypatch.setattr(rule_precision, "_recount", recount_then_a_writer_commits)
    rule_precision.refresh_marked()
    monkeypatch.undo()
    assert RulePrecisionMark.objects.filter(day=target.opened_at.astimezone(UTC).date()).exists()
    since = now - timedelta(days=180)
    assert rule_precision.rule_outcomes(KEYS, since) == oracle(KEYS, since)
    rule_precision.refresh_marked()
    assert rule_precision.rule_outcomes(KEYS, since) == oracle(KEYS, since)
    assert not RulePrecisionMark.objects.exists()


def test_days_merge_into_spans_and_the_first_starts_at_since():
    d = datetime(2026, 3, 1, tzinfo=UTC).date()
    since = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    spans = rule_precision._spans([d, d + timedelta(days=1), d + timedelta(days=5)], since)
    assert spans == [
        (since, datetime(2026, 3, 3, tzinfo=UTC)),
        (datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC)),
    ]

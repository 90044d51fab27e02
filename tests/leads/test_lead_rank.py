"""The board's rank rows (leads.models.LeadRank) equal each lead's stage and score whatever wrote
the lead, and a score write touches no index of the leads table (issue 22 item 3)."""

import re
from html import unescape

import pytest
from django.db import connection
from django.db.models import F
from django.db.models.functions import Mod
from django.urls import reverse

from leads.apps import _rank_triggers
from leads.lifecycle import Stage
from leads.models import Lead, LeadRank
from leads.rank import installed_sqlite
from leads.selectors import board_column
from leads.services import lead_move
from tests.leads.factories import LeadFactory


def drift() -> list[tuple[int, str | None, int | None]]:
    """Leads whose rank row is missing or differs, and rank rows without a lead."""
    leads = set(Lead.objects.values_list("id", "stage", "score"))
    ranks = set(LeadRank.objects.values_list("lead_id", "stage", "score"))
    return sorted(leads ^ ranks)


@pytest.mark.django_db
def test_rank_rows_follow_every_write_path():
    made = LeadFactory.create_batch(3, stage=Stage.LEAD, score=5)  # ORM insert
    Lead.objects.bulk_create(
        [
            Lead(email=f"bulk{i}@example.test", stage_changed_at=made[0].stage_changed_at)
            for i in range(3)
        ]
    )
    assert LeadRank.objects.count() == 6
    assert drift() == []
    Lead.objects.filter(pk=made[0].pk).update(score=70)  # a set-based score write
    Lead.objects.filter(email__startswith="bulk").update(score=12, stage=Stage.NURTURE)
    with connection.cursor() as cursor:  # raw SQL, as the scoring engine writes
        cursor.execute("UPDATE leads_lead SET score = score + 3 WHERE id = %s", [made[1].pk])
    lead_move(lead_id=made[2].pk, to=Stage.MQL, actor=None, source="test")  # the lifecycle service
    Lead.objects.filter(pk=made[0].pk).update(first_name="Renamed")  # no rank column: no change
    assert drift() == []
    assert LeadRank.objects.get(pk=made[2].pk).stage == Stage.MQL
    assert LeadRank.objects.get(pk=made[1].pk).score == 8
    made[0].delete()  # the ORM cascades nothing here: the database deletes the rank row
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM leads_lead WHERE email = %s", ["bulk0@example.test"])
    assert LeadRank.objects.count() == 4
    assert drift() == []


@pytest.mark.django_db
def test_the_board_pages_through_a_stage_by_the_scores_written_set_based():
    leads = LeadFactory.create_batch(7, stage=Stage.MQL, score=10)
    LeadFactory(stage=Stage.LEAD, score=99)  # another column
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(score=100 - Mod(F("id"), 5) * 10)
    expected = list(
        Lead.objects.filter(stage=Stage.MQL).order_by("-score", "-id").values_list("id", "score")
    )
    seen, after = [], ""
    while True:  # keyset pages of 3 until the last
        page = board_column(leads=Lead.objects.all(), stage=Stage.MQL, after=after, size=3)
        seen += [(lead.pk, lead.score) for lead in page.leads]
        if not (after := page.next_cursor):
            break
    assert seen == expected
    assert len({score for _, score in seen}) > 1  # the order was decided by the new scores


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_score_write_updates_lead_rows_in_place_and_no_lead_index():
    """HOT updates: no index of leads_lead names a score column, and fillfactor leaves room.
    With score in the board index (before issue 22 item 3), none of these was HOT."""
    leads = LeadFactory.create_batch(400, stage=Stage.LEAD)
    written = [lead.pk for lead in leads[::20]]  # a sweep's share: a few rows per page
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated('leads_lead'::regclass),"
            " pg_stat_get_xact_tuples_hot_updated('leads_lead'::regclass)"
        )
        updated_before, hot_before = cursor.fetchone()
        cursor.execute(
            "UPDATE leads_lead SET score = 40, fit_score = 10, engagement_score = 30, grade = 'B',"
            " scored_at = now() WHERE id = ANY(%s)",
            [written],
        )
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated('leads_lead'::regclass),"
            " pg_stat_get_xact_tuples_hot_updated('leads_lead'::regclass)"
        )
        updated, hot = cursor.fetchone()
    assert updated - updated_before == len(written)
    assert hot - hot_before == len(written)
    assert set(LeadRank.objects.filter(pk__in=written).values_list("score", flat=True)) == {40}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's triggers")
@pytest.mark.django_db
def test_sqlite_rank_triggers_come_back_after_a_table_rebuild():
    """Django rebuilds a SQLite table for some schema changes and drops its triggers: the
    post-migrate hook puts them back and repairs the rows written meanwhile."""
    lead = LeadFactory(stage=Stage.LEAD, score=5)
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER lead_rank_update")
        cursor.execute("DROP TRIGGER lead_rank_insert")
    Lead.objects.filter(pk=lead.pk).update(score=50)
    LeadFactory(stage=Stage.MQL)
    assert drift() != []
    _rank_triggers(using="default")
    with connection.cursor() as cursor:
        assert installed_sqlite(cursor) == {
            "lead_rank_insert",
            "lead_rank_update",
            "lead_rank_delete",
        }
    assert drift() == []


@pytest.mark.parametrize(
    ("query", "stages", "descending"),
    [
        ({"sort": "-score"}, None, True),
        ({"sort": "score"}, None, False),
        ({"sort": "-score", "stage": ["mql", "sal"]}, {"mql", "sal"}, True),
    ],
)
@pytest.mark.django_db
def test_the_list_pages_through_leads_by_score_with_ties(
    client, marketer, query, stages, descending
):
    """Score order is read from the rank rows; the keyset cursor (score, id) neither skips nor
    repeats a lead across pages, with many leads sharing a score."""
    for i in range(130):
        LeadFactory(stage=(Stage.MQL, Stage.SAL, Stage.LEAD)[i % 3], score=i % 9)
    client.force_login(marketer)
    seen: list[int] = []
    html = client.get(reverse("leads:list"), query).content.decode()
    while True:
        seen += [int(pk) for pk in re.findall(r'name="lead" value="(\d+)"', html)]
        if not (link := re.search(r'<a href="([^"]+)">Next page', html)):
            break
        html = client.get(reverse("leads:list") + unescape(link[1])).content.decode()
        assert len(seen) < 200, "the pages do not end"
    leads = Lead.objects.filter(stage__in=stages) if stages else Lead.objects.all()
    order = ("-score", "-id") if descending else ("score", "id")
    assert seen == list(leads.order_by(*order).values_list("id", flat=True))

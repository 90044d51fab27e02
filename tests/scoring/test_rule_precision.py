"""Rule precision: each handover remembers the rules its lead carried points from, and the rules
editor and the API show how those leads fared (accepted, SQL, won) beside the others."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from handover.models import Handover, HandoverRuleHit
from handover.services import handover_accept, handover_reject
from leadflow.roles import Role
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityKind, Team
from scoring import services
from scoring.precision import rule_precision
from tests.handover.factories import passed_checklist, rule
from tests.leads.factories import LeadFactory, UserFactory
from tests.scoring.factories import activity_rule, make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, manager):
    """Three rules (webinar, download, fit: German) and 12 leads handed over by the real
    scoring and routing: 4 on two webinars, 4 on a webinar and a download, 4 on two downloads;
    half of each German. Then outcomes are decided by hand and tallied here."""
    team = Team.objects.create(name="Inside", manager=manager)
    rep = UserFactory(username="prec-rep", role=Role.SALES_REP)
    team.members.add(rep)
    rule("all", team=team, members=[rep])
    model = make_model(
        [
            activity_rule(ActivityKind.WEBINAR, 10),
            activity_rule(ActivityKind.DOWNLOAD, 10),
            {"kind": "fit", "field": "country", "op": "in", "value": ["DE"], "points": 1},
        ],
        mql_threshold=20,
        lead_fit_threshold=0,
    )
    webinar, download, german = model.rules.order_by("id")
    mixes = {"ww": (ActivityKind.WEBINAR,) * 2, "wd": (ActivityKind.WEBINAR, ActivityKind.DOWNLOAD)}
    mixes["dd"] = (ActivityKind.DOWNLOAD,) * 2
    handovers = {}
    for mix, kinds in mixes.items():
        for i in range(4):
            lead = LeadFactory(stage=Stage.LEAD, country="DE" if i % 2 else "FR")
            for kind in kinds:
                lead_services.activity_record(
                    lead_id=lead.pk, kind=kind, occurred_at=timezone.now() - timedelta(minutes=5)
                )
            services.score_lead(lead_id=lead.pk)
            handovers[(mix, i)] = Handover.objects.get(lead=lead)
    # outcomes: i=0 stays open, i=1 rejected, i=2 accepted, i=3 accepted, SQL and (ww only) won
    for (mix, i), h in handovers.items():
        if i == 1:
            handover_reject(handover_id=h.pk, actor=rep, reason_code="no_budget")
        elif i >= 2:
            handover_accept(handover_id=h.pk, actor=rep)
        if i == 3:
            passed_checklist(h.lead)
            lead_services.lead_mark_sql(lead_id=h.lead_id, actor=rep, source="ui")
            if mix == "ww":
                lead_services.lead_convert(lead_id=h.lead_id, actor=rep, source="ui")
    return model, (webinar, download, german), handovers, rep


def test_each_handover_remembers_the_rules_its_lead_was_handed_over_on(world):
    model, (webinar, download, german), handovers, _ = world
    hits = {
        (mix, i): {(hit.rule_key, hit.points) for hit in h.rule_hits.all()}
        for (mix, i), h in handovers.items()
    }
    assert hits[("ww", 0)] == {(webinar.key, 20)}
    assert hits[("wd", 1)] == {(webinar.key, 10), (download.key, 10), (german.key, 1)}
    assert hits[("dd", 2)] == {(download.key, 20)}


def test_precision_counts_what_happened_to_the_leads_with_and_without_each_rule(world):
    model, (webinar, download, german), _, _ = world
    found = rule_precision(list(model.rules.order_by("id")))
    assert found is not None
    rows, total = found
    by_rule = {p.rule.pk: p for p in rows}
    # every mix: 4 handovers, 3 decided, 2 accepted, 1 SQL; won only in "ww"
    assert (total.handovers, total.decided, total.accepted, total.sql, total.won) == (
        12,
        9,
        6,
        3,
        1,
    )
    w = by_rule[webinar.pk]  # in ww and wd
    assert (w.with_rule.handovers, w.with_rule.accepted, w.with_rule.sql, w.with_rule.won) == (
        8,
        4,
        2,
        1,
    )
    assert (w.without.handovers, w.without.accepted, w.without.won) == (4, 2, 0)
    assert w.with_rule.accept_rate == pytest.approx(4 / 6, abs=1e-4)
    assert w.with_rule.win_rate == pytest.approx(1 / 8, abs=1e-4)
    assert w.lift("win") == pytest.approx(12.5)
    g = by_rule[german.pk]  # i = 1 and 3 of every mix: rejected, or won all the way to SQL
    assert (g.with_rule.handovers, g.with_rule.decided, g.with_rule.accepted, g.with_rule.sql) == (
        6,
        6,
        3,
        3,
    )
    assert g.with_rule.accept_rate == 0.5
    assert g.without.sql_rate == 0.0
    assert g.lift("sql") == pytest.approx(50.0)
    # a rule keeps its record in a new version (its key travels with the copy)
    draft = services.model_new_version(model_id=model.pk)
    again = rule_precision(list(draft.rules.order_by("id")))
    assert again is not None
    assert [p.with_rule for p in again[0]] == [p.with_rule for p in rows]
    # only handovers opened inside the window count
    Handover.objects.filter(pk__in=HandoverRuleHit.objects.values("handover_id")).update(
        opened_at=timezone.now() - timedelta(days=200)
    )
    assert rule_precision(list(model.rules.order_by("id")))[1].handovers == 0


def test_the_rules_editor_and_the_api_show_it(client, world, marketer):
    model, (webinar, *_), _, _ = world
    client.force_login(marketer)
    page = client.get(reverse("scoring:model", args=[model.pk])).content.decode()
    assert "Rule precision" in page
    assert "66.7 %" in page  # the webinar rule's accept rate: 4 of 6 decided
    api = APIClient()
    api.force_authenticate(marketer)
    body = api.get(f"/api/v1/scoring/models/{model.pk}/rule-precision/", {"days": 30}).json()
    assert body["days"] == 30
    assert body["all"]["handovers"] == 12
    row = next(r for r in body["rules"] if r["rule"] == webinar.pk)
    assert row["key"] == str(webinar.key)
    assert row["with_rule"]["won"] == 1
    assert row["lift"]["win"] == pytest.approx(12.5)
    for bad in ("0", "731", "x", "-3"):
        refused = api.get(f"/api/v1/scoring/models/{model.pk}/rule-precision/", {"days": bad})
        assert refused.status_code == 400
        assert "days" in refused.json()["error"]["fields"]


def test_a_bulk_move_to_mql_records_every_handovers_rules_in_one_go(manager):
    """Inside a bulk batch the rule hits are written for the whole batch at the end (three
    queries), and are the same as one lead at a time would write."""
    import uuid

    from bulk.services import bulk_run, bulk_submit

    team = Team.objects.create(name="Bulk", manager=manager)
    rule("bulk", team=team, members=[manager])
    model = make_model([activity_rule(ActivityKind.WEBINAR, 5)], mql_threshold=1000)
    leads = [LeadFactory(stage=Stage.LEAD, team=team) for _ in range(6)]
    for lead in leads[:4]:
        lead_services.activity_record(
            lead_id=lead.pk, kind=ActivityKind.WEBINAR, occurred_at=timezone.now()
        )
        services.score_lead(lead_id=lead.pk)
    job = bulk_submit(
        actor=manager,
        action_code="move",
        data={"to": "mql"},
        token=uuid.uuid4(),
        lead_ids=[lead.pk for lead in leads],
    )
    bulk_run(job_id=job.pk)
    key = model.rules.get().key
    hits = {
        h.lead_id: [(hit.rule_key, hit.points) for hit in h.rule_hits.all()]
        for h in Handover.objects.filter(lead__in=leads)
    }
    assert len(hits) == 6
    assert hits == {lead.pk: [(key, 5)] if i < 4 else [] for i, lead in enumerate(leads)}


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_handovers_their_outcomes_from_the_stage_log():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from leads.models import Lead, StageChange

    before = [("handover", "0007_rule_hits")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    now = timezone.now()
    at = [now - timedelta(days=d) for d in (30, 20, 10, 5, 2)]
    lead = Lead.objects.create(stage="customer", stage_changed_at=at[4])
    for frm, to, when in (
        ("", "mql", at[0]),
        ("mql", "nurture", at[1]),
        ("nurture", "mql", at[2]),
        ("mql", "sal", at[2]),
        ("sal", "sql", at[3]),
        ("sql", "customer", at[4]),
    ):
        StageChange.objects.create(
            lead=lead, from_stage=frm, to_stage=to, actor_kind="system", source="api",
            changed_at=when,
        )  # fmt: skip
    model = old.get_model("handover", "Handover")
    first = model.objects.create(lead_id=lead.pk, status="rejected", opened_at=at[0])
    second = model.objects.create(lead_id=lead.pk, status="accepted", opened_at=at[2])
    never = model.objects.create(
        lead_id=Lead.objects.create(stage="mql", stage_changed_at=now).pk,
        status="open",
        opened_at=now,
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    got = {
        h.pk: (h.reached_sql_at, h.won_at)
        for h in Handover.objects.filter(pk__in=[first.pk, second.pk, never.pk])
    }
    # the rejected first handover also counts: its lead reached SQL and won after it opened
    assert got == {first.pk: (at[3], at[4]), second.pk: (at[3], at[4]), never.pk: (None, None)}

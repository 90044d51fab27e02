"""Coded exit reasons: every exit after acceptance (SAL or SQL to Nurture or Disqualified) by a
person or an integration names one, through every door (lead page, API, bulk), and the exits
report counts them as they were recorded."""

import random
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import ExitReason, Lead, StageChange, Team
from leads.services import lead_assign, lead_move, lead_update
from reports.filters import NOW, ReportFilterForm, ReportFilters
from reports.selectors import report_run
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

NURTURE_CODES = ("lost_competitor", "lost_price", "no_decision", "other")
DQ_CODES = ("wrong_industry", "duplicate", "other")


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _log(lead: Lead) -> list[StageChange]:
    return list(StageChange.objects.filter(lead=lead).order_by("id"))


def test_leaving_sql_without_an_exit_reason_is_refused_everywhere_and_nothing_is_written(
    client, rep
):
    lead = LeadFactory(stage=Stage.SQL, owner=rep)
    before = _log(lead)
    with pytest.raises(ValidationError) as err:
        lead_move(lead_id=lead.pk, to="nurture", actor=rep, source="ui", reason="lost")
    assert set(err.value.message_dict) == {"reason_code"}
    assert "lost_competitor" in err.value.message_dict["reason_code"][0]
    # the API's recycle and transition
    api = _api(rep)
    for url, body in (
        (f"/api/v1/leads/{lead.pk}/recycle/", {"reason": "lost"}),
        (f"/api/v1/leads/{lead.pk}/transition/", {"to": "disqualified", "reason": "bad"}),
        (f"/api/v1/leads/{lead.pk}/recycle/", {"reason_code": "no-such-code"}),
        (f"/api/v1/leads/{lead.pk}/recycle/", {"reason_code": "wrong_industry"}),  # DQ only
        (f"/api/v1/leads/{lead.pk}/recycle/", {"reason_code": "other"}),  # needs a comment
        (f"/api/v1/leads/{lead.pk}/recycle/", {}),
    ):
        response = api.post(url, body, format="json")
        assert response.status_code == 400, (url, body, response.json())
        error = response.json()["error"]
        named = error.get("field") or next(iter(error.get("fields", {})), None)
        assert named in ("reason_code", "reason"), error
    # the lead page
    client.force_login(rep)
    page = client.post(
        reverse("leads:move", args=[lead.pk]),
        {"to": "nurture", "reason": "lost", "expected_stage": "sql"},
        HTTP_ACCEPT="application/json",
    )
    assert page.status_code == 400
    assert page.json()["error"]["field"] == "reason_code"
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    assert _log(lead) == before


def test_an_exit_reason_is_recorded_with_its_comment_and_may_reset_engagement(rep):
    lead = LeadFactory(stage=Stage.SAL, owner=rep)
    result = lead_move(
        lead_id=lead.pk, to="nurture", actor=rep, source="ui", reason="Q3", reason_code="not_ready"
    )
    assert result.change is not None
    assert (result.change.reason_code, result.change.reason) == ("not_ready", "Not ready yet: Q3")
    lead.refresh_from_db()
    assert lead.score_reset_at == result.change.changed_at  # the reason resets engagement
    # an integration reports a lost deal from the CRM with its code
    sql = LeadFactory(stage=Stage.SQL, owner=rep)
    response = _api(UserFactory(role=Role.INTEGRATION)).post(
        f"/api/v1/leads/{sql.pk}/recycle/", {"reason_code": "lost_price"}, format="json"
    )
    assert response.status_code == 200, response.json()
    history = _api(rep).get(f"/api/v1/leads/{sql.pk}/history/").json()
    assert (history[-1]["reason_code"], history[-1]["reason"]) == ("lost_price", "Lost on price")


def test_moves_before_acceptance_need_no_code_and_other_moves_take_none(marketer):
    lead = LeadFactory(stage=Stage.LEAD)
    moved = lead_move(lead_id=lead.pk, to="disqualified", actor=marketer, source="ui", reason="x")
    assert moved.change is not None
    assert moved.change.reason_code == ""
    # a code on a move that is no exit is refused, naming the field
    other = LeadFactory(stage=Stage.SUSPECT)
    with pytest.raises(ValidationError) as err:
        lead_move(lead_id=other.pk, to="lead", actor=marketer, source="ui", reason_code="other")
    assert set(err.value.message_dict) == {"reason_code"}


def test_bulk_recycle_records_the_exit_reason_on_each_accepted_lead(manager):
    import uuid

    from bulk.models import BulkJob
    from bulk.services import bulk_run, bulk_submit

    team = Team.objects.create(name="Inside", manager=manager)
    leads = [
        LeadFactory(stage=s, owner=manager, team=team) for s in (Stage.SQL, Stage.SAL, Stage.LEAD)
    ]
    job = bulk_submit(
        actor=manager,
        action_code="recycle",
        lead_ids=[lead.pk for lead in leads],
        data={"nurture_reason": "lost_competitor", "comment": "Acme"},
        token=uuid.uuid4(),
    )
    if job.status != BulkJob.Status.DONE:  # small selections run at once
        bulk_run(job_id=job.pk)
    changes = [_log(lead)[-1] for lead in leads]
    assert [(c.to_stage, c.reason_code, c.reason) for c in changes] == [
        ("nurture", "lost_competitor", "Lost to a competitor: Acme")
    ] * 3


def _exit_world(seed: int, n: int = 60):
    """``n`` accepted leads across two teams, three reps and three sources, each leaving (or
    not) with a random fitting reason, by its rep through the services; the expected counts
    are tallied from the choices made here, not read back."""
    rng = random.Random(seed)
    north, south = Team.objects.create(name="North"), Team.objects.create(name="South")
    reps = [UserFactory(role=Role.SALES_REP) for _ in range(3)]
    team_of = {reps[0]: north, reps[1]: north, reps[2]: south}
    expected: Counter[tuple[str, str, str, str, str, str]] = Counter()
    exited: list[tuple[Lead, object]] = []
    for i in range(n):
        owner = rng.choice(reps)
        frm = rng.choice((Stage.SAL, Stage.SQL))
        lead = LeadFactory(
            stage=frm,
            owner=owner,
            team=team_of[owner],
            source=rng.choice(("web", "ads", "event")),
            email=f"exit{seed}-{i}@x.example",
        )
        if rng.random() < 0.15:
            continue  # still with sales
        to = rng.choice((Stage.NURTURE, Stage.DISQUALIFIED))
        code = rng.choice(NURTURE_CODES if to == Stage.NURTURE else DQ_CODES)
        lead_move(
            lead_id=lead.pk,
            to=to,
            actor=owner,
            source="ui",
            reason="why" if code == "other" else "",
            reason_code=code,
        )
        expected[(code, frm, to, lead.source, owner.username, team_of[owner].name)] += 1
        exited.append((lead, owner))
    return expected, exited, reps


def _rows(filters: ReportFilters) -> dict[tuple[str, str], dict[str, Any]]:
    report = report_run(slug="exits", filters=filters)
    return {(r.get("group", ""), r["reason"]): r for r in report.rows}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_exits_report_counts_what_was_recorded_by_reason_source_rep_and_team(seed):
    expected, exited, reps = _exit_world(seed)
    everything = ReportFilters()
    by_reason = _rows(everything)
    tally: Counter[str] = Counter()
    for (code, *_), n in expected.items():
        tally[code] += n
    assert {code: r["exits"] for (_, code), r in by_reason.items()} == dict(tally)
    for (_, code), row in by_reason.items():
        mine = [(k, n) for k, n in expected.items() if k[0] == code]
        assert row["from_sal"] == sum(n for k, n in mine if k[1] == Stage.SAL)
        assert row["from_sql"] == sum(n for k, n in mine if k[1] == Stage.SQL)
        assert row["to_nurture"] == sum(n for k, n in mine if k[2] == Stage.NURTURE)
        assert row["to_disqualified"] == sum(n for k, n in mine if k[2] == Stage.DISQUALIFIED)
        assert row["from_sal"] + row["from_sql"] == row["exits"]
        assert row["reason_label"] == ExitReason.objects.get(code=code).label
    assert sum(r["share"] for r in by_reason.values()) == pytest.approx(1, abs=1e-3)
    for by, index in (("source", 3), ("rep", 4), ("team", 5)):
        rows = _rows(ReportFilters(exits_by=by))
        want: Counter[tuple[str, str]] = Counter()
        for key, n in expected.items():
            want[(key[index], key[0])] += n
        names = {str(u): u.username for u in reps}
        got = {(names.get(g, g), code): r["exits"] for (g, code), r in rows.items()}
        assert got == dict(want), by
    # a rep filter: only that rep's exits
    one = reps[0]
    mine = _rows(ReportFilters(owner_id=one.pk))
    assert sum(r["exits"] for r in mine.values()) == sum(
        n for k, n in expected.items() if k[4] == one.username
    )
    # reassigning after the exit changes "now", not "then"
    moved_over = [lead for lead, owner in exited if owner == one]
    for lead in moved_over:
        lead_assign(lead_id=lead.pk, owner=reps[2])
        lead_update(lead_id=lead.pk, data={"source": "renamed"}, actor=None)
    then_rows = _rows(ReportFilters(owner_id=one.pk))
    assert {k: r["exits"] for k, r in then_rows.items()} == {k: r["exits"] for k, r in mine.items()}
    now_rows = _rows(ReportFilters(owner_id=one.pk, view=NOW))
    assert now_rows == {}
    now_by_source = _rows(ReportFilters(exits_by="source", view=NOW))
    assert sum(r["exits"] for (g, _), r in now_by_source.items() if g == "renamed") == len(
        moved_over
    )


def test_the_period_and_uncoded_history_are_shown_for_what_they_are(rep):
    old = LeadFactory(stage=Stage.SQL, owner=rep)
    lead_move(lead_id=old.pk, to="nurture", actor=rep, source="ui", reason_code="lost_price")
    StageChange.objects.filter(lead=old, to_stage="nurture").update(
        changed_at=timezone.now() - timedelta(days=40)
    )
    legacy = LeadFactory(stage=Stage.SQL, owner=rep)  # an exit logged before exit reasons
    lead_move(lead_id=legacy.pk, to="nurture", actor=rep, source="ui", reason_code="lost_price")
    StageChange.objects.filter(lead=legacy, to_stage="nurture").update(reason_code="")
    form = ReportFilterForm({"date_from": (timezone.localdate() - timedelta(days=7)).isoformat()})
    assert form.is_valid(), form.errors
    rows = report_run(slug="exits", filters=form.filters()).rows
    assert [(r["reason"], r["exits"]) for r in rows] == [("", 1)]
    assert rows[0]["reason_label"].startswith("No coded reason")


def test_the_exits_report_page_csv_and_api(client, manager):
    lead = LeadFactory(stage=Stage.SQL, owner=manager)
    lead_move(
        lead_id=lead.pk, to="disqualified", actor=manager, source="ui", reason_code="duplicate"
    )
    client.force_login(manager)
    page = client.get(reverse("reports:report", args=["exits"]), {"exits_by": "rep"})
    assert page.status_code == 200
    assert "Duplicate" in page.content.decode()
    export = client.get(reverse("reports:csv", args=["exits"]))
    csv_text = b"".join(export.streaming_content).decode()
    assert "duplicate" in csv_text.splitlines()[1]
    api = _api(manager)
    body = api.get("/api/v1/reports/exits/", {"exits_by": "team"}).json()
    assert [(r["group"], r["reason"], r["exits"]) for r in body["rows"]] == [
        ("(none)", "duplicate", 1)
    ]
    bad = api.get("/api/v1/reports/exits/", {"exits_by": "planet"})
    assert bad.status_code == 400
    assert "exits_by" in bad.json()["error"]["fields"]


def test_exit_reasons_are_configured_through_the_settings_api(manager):
    api = _api(manager)
    made = api.post(
        "/api/v1/handover/exit-reasons/",
        {"code": "in_house", "label": "Built it in-house", "route": "nurture"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    bad = api.post(
        "/api/v1/handover/exit-reasons/",
        {"code": "x", "label": "X", "route": "somewhere"},
        format="json",
    )
    assert bad.status_code == 400
    assert "route" in bad.json()["error"]["fields"]
    assert not ExitReason.objects.filter(code="x").exists()
    listed = {r["code"] for r in api.get("/api/v1/handover/exit-reasons/").json()["results"]}
    assert {"in_house", "lost_competitor", "other"} <= listed


def test_an_exit_reason_the_stage_log_names_cannot_be_deleted_only_deactivated(client, rep):
    admin = UserFactory(role=Role.ADMIN)
    lead = LeadFactory(stage=Stage.SQL, owner=rep)
    lead_move(lead_id=lead.pk, to="nurture", actor=rep, source="ui", reason_code="lost_price")
    used = ExitReason.objects.get(code="lost_price")
    unused = ExitReason.objects.get(code="no_decision")
    api = _api(admin)
    refused = api.delete(f"/api/v1/handover/exit-reasons/{used.pk}/")
    assert refused.status_code == 409
    assert refused.json()["error"]["in_use"] == [
        {"model": "leads.stagechange", "name": "stage change", "count": 1}
    ]
    assert ExitReason.objects.filter(pk=used.pk).exists()
    assert api.delete(f"/api/v1/handover/exit-reasons/{unused.pk}/").status_code == 204
    client.force_login(admin)
    page = client.post(reverse("configure:exit_reasons_delete", args=[used.pk]), follow=True)
    assert "Still in use by 1 stage change" in page.content.decode()
    assert ExitReason.objects.filter(pk=used.pk).exists()

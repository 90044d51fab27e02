"""A dry run names the leads a draft would move into or out of MQL, routes the new MQLs
through the assignment rules without assigning anyone, and sums up inbox load and SLA exposure."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from handover.models import AssignmentMember, Handover, HandoverAssignment
from leadflow.roles import Role
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityKind, Team
from scoring import services
from scoring.models import DryRunLead, ScoringRun
from tests.handover.factories import rule
from tests.leads.factories import LeadFactory, UserFactory
from tests.scoring.factories import activity_rule, make_model

pytestmark = pytest.mark.django_db


def _webinars(lead, n: int) -> None:
    for _ in range(n):
        lead_services.activity_record(
            lead_id=lead.pk,
            kind=ActivityKind.WEBINAR,
            occurred_at=timezone.now() - timedelta(minutes=5),
        )


def _dry_run(model, capture) -> ScoringRun:
    with capture(execute=True):
        run = services.run_start(model_id=model.pk, kind=ScoringRun.Kind.DRY_RUN)
    run.refresh_from_db()
    assert run.status == "done", run.error
    return run


@pytest.fixture
def reps(db, manager):
    team = Team.objects.create(name="Inside", manager=manager)
    users = [UserFactory(username=f"rr{i}", role=Role.SALES_REP) for i in range(2)]
    team.members.add(*users)
    rule("dach", team=team, members=users, countries=["DE"])
    return users


def test_a_draft_identical_to_the_published_model_moves_nobody(
    django_capture_on_commit_callbacks,
) -> None:
    live = make_model([activity_rule(ActivityKind.WEBINAR, 10)], mql_threshold=20)
    # leads the next sweep would move anyway: over the threshold, not swept yet
    pending = [LeadFactory(stage=Stage.LEAD) for _ in range(3)]
    for lead in pending:
        _webinars(lead, 3)
    same = services.model_new_version(model_id=live.pk)  # the same rules and thresholds
    for model in (same, live):
        run = _dry_run(model, django_capture_on_commit_callbacks)
        assert (run.result["enter_mql"], run.result["leave_mql"]) == (0, 0)
        assert not DryRunLead.objects.filter(run=run).exists()


def test_the_draft_names_the_leads_it_would_move_and_who_they_would_go_to(
    reps, django_capture_on_commit_callbacks
) -> None:
    live = make_model(
        [activity_rule(ActivityKind.WEBINAR, 10)], mql_threshold=50, recycle_below=None
    )
    german = [LeadFactory(stage=Stage.LEAD, country="DE", source="webinar") for _ in range(3)]
    french = LeadFactory(stage=Stage.LEAD, country="FR", source="ads")
    low = LeadFactory(stage=Stage.LEAD, country="DE", source="ads")
    mql = LeadFactory(stage=Stage.MQL, country="DE", source="ads")
    for lead in (*german, french):
        _webinars(lead, 3)  # 30 points
    _webinars(low, 1)  # 10 points
    services.score_dirty_sweep()
    draft = services.model_new_version(model_id=live.pk)
    services.model_update(model_id=draft.pk, data={"mql_threshold": 25, "recycle_below": 5})
    handovers, marks = (
        Handover.objects.count(),
        list(AssignmentMember.objects.values_list("last_assigned_at", flat=True)),
    )

    run = _dry_run(draft, django_capture_on_commit_callbacks)

    named = {r.lead_id: r for r in DryRunLead.objects.filter(run=run)}
    assert set(named) == {*(x.pk for x in german), french.pk, mql.pk}
    assert {named[x.pk].move for x in (*german, french)} == {"enter"}
    assert (named[mql.pk].move, named[mql.pk].score_after) == ("leave", 0)
    assert (run.result["enter_mql"], run.result["leave_mql"]) == (4, 1)
    assert (named[german[0].pk].score_before, named[german[0].pk].source) == (30, "webinar")
    # round robin over the German leads in id order, as the real rules would; France: no rule
    assert [named[x.pk].owner_id for x in german] == [reps[0].pk, reps[1].pk, reps[0].pk]
    assert (named[french.pk].routed, named[french.pk].owner_id) == (True, None)
    # nothing was assigned: no handover, no assignment, no rotation moved
    assert Handover.objects.count() == handovers
    assert not HandoverAssignment.objects.exists()
    assert list(AssignmentMember.objects.values_list("last_assigned_at", flat=True)) == marks
    routing = run.result["routing"]
    assert routing["policy"]
    assert routing["due_at"]
    assert {(r["owner_id"], r["open_now"], r["would_open"]) for r in routing["reps"]} == {
        (reps[0].pk, 0, 2),
        (reps[1].pk, 0, 1),
    }
    assert routing["queue"] == 1  # France waits in no one's inbox
    # nobody accepted anything in 30 days: every new MQL is exposed to the SLA
    assert routing["sla_exposed"] == 4


def test_sla_exposure_follows_each_reps_acceptance_pace(
    reps, django_capture_on_commit_callbacks
) -> None:
    live = make_model([activity_rule(ActivityKind.WEBINAR, 10)], mql_threshold=50)
    leads = [LeadFactory(stage=Stage.LEAD, country="DE") for _ in range(4)]
    for lead in leads:
        _webinars(lead, 3)
    services.score_dirty_sweep()
    # rep 0 accepted 3,000 handovers in 30 days (100 a day), rep 1 none
    old = LeadFactory(stage=Stage.SAL)
    Handover.objects.bulk_create(
        Handover(
            lead=old,
            owner=reps[0],
            status=Handover.Status.ACCEPTED,
            opened_at=timezone.now() - timedelta(days=2),
            decided_at=timezone.now() - timedelta(days=1),
        )
        for _ in range(3000)
    )
    draft = services.model_new_version(model_id=live.pk)
    services.model_update(model_id=draft.pk, data={"mql_threshold": 25})
    run = _dry_run(draft, django_capture_on_commit_callbacks)
    by_rep = {r["owner_id"]: r for r in run.result["routing"]["reps"]}
    assert by_rep[reps[0].pk]["accepted_per_day"] == 100
    assert (by_rep[reps[0].pk]["would_open"], by_rep[reps[0].pk]["sla_exposed"]) == (2, 0)
    assert (by_rep[reps[1].pk]["would_open"], by_rep[reps[1].pk]["sla_exposed"]) == (2, 2)


@pytest.fixture
def named_run(reps, django_capture_on_commit_callbacks):
    live = make_model([activity_rule(ActivityKind.WEBINAR, 10)], mql_threshold=50)
    for i in range(60):
        lead = LeadFactory(stage=Stage.LEAD, country="DE", source="webinar" if i % 2 else "ads")
        _webinars(lead, 3)
    services.score_dirty_sweep()
    draft = services.model_new_version(model_id=live.pk)
    services.model_update(model_id=draft.pk, data={"mql_threshold": 25})
    return _dry_run(draft, django_capture_on_commit_callbacks)


def test_the_named_list_pages_filters_and_exports(client, marketer, reps, named_run) -> None:
    client.force_login(marketer)
    url = f"/scoring/runs/{named_run.pk}/leads/"
    page = client.get(url)
    assert page.status_code == 200
    assert page.content.decode().count('<tr>\n      <th scope="row">') == 50  # one page
    page2 = client.get(url, {"page": 2})
    assert page2.content.decode().count('<tr>\n      <th scope="row">') == 10
    mine = client.get(url, {"owner": reps[1].pk, "move": "enter"})
    assert "30 leads" in mine.content.decode()
    bad = client.get(url, {"owner": "999999", "move": "sideways"})
    assert bad.status_code == 400
    assert bad.context["form"].errors.keys() == {"owner", "move"}
    export = client.get(f"/scoring/runs/{named_run.pk}/leads.csv", {"source": "ads"})
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert len(rows) == 30
    assert {r["source"] for r in rows} == {"ads"}
    assert {r["owner"] for r in rows} <= {reps[0].username, reps[1].username}
    summary = client.get(f"/scoring/runs/{named_run.pk}/").content.decode()
    assert 'id="dry-run-sources"' in summary
    assert 'id="dry-run-inbox"' in summary


def test_the_api_lists_the_named_leads_and_names_bad_filters(
    client, marketer, reps, named_run
) -> None:
    client.force_login(marketer)
    base = f"/api/v1/scoring/runs/{named_run.pk}/leads/"
    first = client.get(base, {"move": "enter", "page_size": 40}).json()
    second = client.get(first["next"]).json()
    got = [r["lead_id"] for r in first["results"] + second["results"]]
    assert got == sorted(DryRunLead.objects.filter(run=named_run).values_list("lead_id", flat=True))
    assert all(r["routed"] and r["owner_id"] in {u.pk for u in reps} for r in first["results"])
    bad = client.get(base, {"move": "sideways"})
    assert bad.status_code == 400
    assert "move" in bad.json()["error"]["fields"]
    rescore = ScoringRun.objects.filter(kind=ScoringRun.Kind.RESCORE).first()
    assert rescore is not None
    assert client.get(f"/api/v1/scoring/runs/{rescore.pk}/leads/").status_code == 404

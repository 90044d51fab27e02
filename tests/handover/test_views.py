"""SAL inbox, qualification, notifications, the lead panel and manager home (bulk assign: tests/bulk)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from handover import selectors
from handover.models import Handover, Notification, SlaTimer
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, Team
from leads.services import lead_mark_mql
from tests.handover.factories import framework
from tests.leads.factories import LeadFactory, UserFactory


@pytest.fixture
def mql_for(db, team):
    def make(owner, **fields):
        lead = LeadFactory(stage=Stage.LEAD, owner=owner, team=team, **fields)
        lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
        return Handover.objects.get(lead=lead, status=Handover.Status.OPEN)

    return make


@pytest.mark.django_db
def test_inbox_lists_my_handovers_most_urgent_first_with_countdowns(client, reps, mql_for):
    rep = reps[0]
    later = mql_for(rep, first_name="Later")
    sooner = mql_for(rep, first_name="Sooner")
    mql_for(reps[1], first_name="NotMine")
    SlaTimer.objects.filter(handover=sooner).update(due_at=timezone.now() + timedelta(minutes=5))
    SlaTimer.objects.filter(handover=later).update(due_at=timezone.now() + timedelta(hours=5))
    client.force_login(rep)
    html = client.get(reverse("handover:inbox")).content.decode()
    assert html.index("Sooner") < html.index("Later")
    assert "NotMine" not in html
    assert "data-countdown" in html
    assert 'aria-keyshortcuts="a"' in html


@pytest.mark.django_db
def test_accept_in_one_click(client, reps, mql_for):
    handover = mql_for(reps[0], first_name="Acme")
    client.force_login(reps[0])
    response = client.post(reverse("handover:accept", args=[handover.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "it is a SAL now" in response.content.decode()
    handover.refresh_from_db()
    assert handover.status == Handover.Status.ACCEPTED
    assert Lead.objects.get(pk=handover.lead_id).stage == Stage.SAL


@pytest.mark.django_db
def test_second_accept_gets_a_conflict_message(client, reps, manager, mql_for):
    handover = mql_for(reps[0])
    client.force_login(manager)
    client.post(reverse("handover:accept", args=[handover.pk]), HTTP_HX_REQUEST="true")
    client.force_login(reps[0])
    response = client.post(reverse("handover:accept", args=[handover.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "already accepted" in response.content.decode()


@pytest.mark.django_db
def test_reject_with_reason(client, reps, mql_for):
    handover = mql_for(reps[0])
    client.force_login(reps[0])
    response = client.post(
        reverse("handover:reject", args=[handover.pk]),
        {"reason": "no_budget", "comment": "Next year"},
    )
    assert response.status_code == 302
    handover.refresh_from_db()
    assert (handover.status, handover.reason_code, handover.comment) == (
        "rejected",
        "no_budget",
        "Next year",
    )
    assert Lead.objects.get(pk=handover.lead_id).stage == Stage.NURTURE


@pytest.mark.django_db
def test_reject_errors_in_place_keep_what_was_typed(client, reps, mql_for):
    handover = mql_for(reps[0])
    client.force_login(reps[0])
    url = reverse("handover:reject", args=[handover.pk])
    response = client.post(url, {"reason": "", "comment": "typed text"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "Choose why you reject this lead." in html
    assert "typed text" in html
    assert 'data-open="1"' in html
    response = client.post(url, {"reason": "other", "comment": ""})
    assert response.status_code == 422
    assert "needs a comment" in response.content.decode()
    handover.refresh_from_db()
    assert handover.status == Handover.Status.OPEN


@pytest.mark.django_db
def test_rep_cannot_decide_another_reps_handover(client, reps, mql_for):
    handover = mql_for(reps[1])
    outsider = UserFactory(username="outsider", role=Role.SALES_REP)
    Team.objects.create(name="Elsewhere").members.add(outsider)
    client.force_login(outsider)
    assert client.post(reverse("handover:accept", args=[handover.pk])).status_code == 404
    assert (
        client.post(reverse("handover:reject", args=[handover.pk]), {"reason": "duplicate"})
    ).status_code == 404
    # a teammate sees the lead but is not its owner: refused with a message
    client.force_login(reps[0])
    response = client.post(reverse("handover:accept", args=[handover.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert "Only the owner" in response.content.decode()
    handover.refresh_from_db()
    assert handover.status == Handover.Status.OPEN


@pytest.mark.django_db
def test_marketer_cannot_accept_sals(client, marketer, reps, mql_for):
    handover = mql_for(reps[0])
    client.force_login(marketer)
    assert client.get(reverse("handover:inbox")).status_code == 403
    assert client.post(reverse("handover:accept", args=[handover.pk])).status_code == 403
    assert (
        client.post(reverse("handover:reject", args=[handover.pk]), {"reason": "duplicate"})
    ).status_code == 403
    handover.refresh_from_db()
    assert handover.status == Handover.Status.OPEN


@pytest.mark.django_db
def test_qualify_with_checklist_moves_to_sql_only_when_it_passes(client, reps, mql_for):
    fw = framework(code="bant")
    handover = mql_for(reps[0])
    client.force_login(reps[0])
    client.post(reverse("handover:accept", args=[handover.pk]))
    url = reverse("handover:qualify", args=[handover.lead_id])
    assert "Budget" in client.get(url, {"framework": fw.code}).content.decode()
    response = client.post(
        url, {"framework": fw.code, "met_budget": "on", "note_budget": "50k set aside"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "not qualified yet" in html
    assert "50k set aside" in html
    assert Lead.objects.get(pk=handover.lead_id).stage == Stage.SAL
    response = client.post(
        url,
        {"framework": fw.code, "met_budget": "on", "met_need": "on", "met_timeline": "on"},
    )
    assert response.status_code == 302
    assert Lead.objects.get(pk=handover.lead_id).stage == Stage.SQL


@pytest.mark.django_db
def test_bell_counts_unread_and_list_marks_read(client, reps, mql_for):
    mql_for(reps[0])
    client.force_login(reps[0])
    unread = Notification.objects.filter(recipient=reps[0], read_at__isnull=True).count()
    assert unread >= 1
    assert f'data-unread="{unread}"' in client.get(reverse("handover:bell")).content.decode()
    html = client.get(reverse("handover:notifications")).content.decode()
    assert "New MQL to accept" in html
    client.post(reverse("handover:notifications_read"))
    assert "No unread notifications" in client.get(reverse("handover:bell")).content.decode()


@pytest.mark.django_db
def test_lead_panel_not_scored_yet_then_breakdown(client, reps, mql_for, monkeypatch):
    handover = mql_for(reps[0])
    client.force_login(reps[0])
    url = reverse("handover:lead_panel", args=[handover.lead_id])
    html = client.get(url).content.decode()
    assert "Not scored yet" in html
    assert "SLA" in html
    breakdown = {
        "score": 72,
        "fit_score": 40,
        "engagement_score": 32,
        "grade": "A",
        "model_version": 3,
        "rules": [
            {
                "name": "Visited pricing",
                "dimension": "engagement",
                "points": 12,
                "count": 3,
                "decay": 0.8,
            },
            {
                "name": "Industry is Software",
                "dimension": "fit",
                "points": 40,
                "count": 1,
                "decay": 1,
            },
        ],
    }
    monkeypatch.setattr(selectors, "_score_breakdown", lambda lead_id: breakdown)
    html = client.get(url).content.decode()
    assert "Visited pricing" in html
    assert "Industry is Software" in html
    assert "model 3" in html
    assert "Not scored yet" not in html


@pytest.mark.django_db
def test_timeline_shows_notifications_and_board_shows_sla_badge(client, reps, mql_for, manager):
    handover = mql_for(reps[0], first_name="Badged")
    SlaTimer.objects.filter(handover=handover).update(due_at=timezone.now() - timedelta(hours=2))
    client.force_login(manager)
    board = client.get(reverse("leads:board")).content.decode()
    assert "SLA overdue 2h" in board or "SLA overdue 1h" in board
    page = client.get(reverse("leads:detail", args=[handover.lead_id])).content.decode()
    assert "New MQL to accept" in page


@pytest.mark.django_db
def test_manager_home_shows_team_sla_status(client, manager, reps, mql_for):
    handover = mql_for(reps[0])
    SlaTimer.objects.filter(handover=handover).update(due_at=timezone.now() - timedelta(minutes=5))
    client.force_login(manager)
    html = client.get(reverse("reports:manager_home")).content.decode()
    assert "Inside" in html
    assert f'class="badge breach" href="/leads/board/?owner={reps[0].pk}">1<' in html
    client.force_login(reps[0])
    assert client.get(reverse("reports:manager_home")).status_code == 403


@pytest.mark.django_db
def test_inbox_holds_mine_and_my_teams_queue_each_once(reps, team, mql_for):
    rep, other, _ = reps  # three members in one team: a join on members would triple rows
    mine = mql_for(rep)
    queued = mql_for(other)
    Handover.objects.filter(pk=queued.pk).update(owner=None, team=team)
    theirs = mql_for(other)
    elsewhere = mql_for(other)
    Handover.objects.filter(pk=elsewhere.pk).update(
        owner=None, team=Team.objects.create(name="Field")
    )
    rows = selectors.inbox_rows(user=rep)
    assert sorted(h.pk for h in rows) == sorted([mine.pk, queued.pk])
    assert theirs.pk not in {h.pk for h in rows}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["rep", "manager"])
def test_inbox_query_count_does_not_grow_with_its_rows(client, reps, team, manager, mql_for, role):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from handover.services import handover_accept

    user = reps[0] if role == "rep" else manager
    client.force_login(user)

    def add(n):
        for _ in range(n):
            mql_for(user)  # waiting for a decision
            handover_accept(handover_id=mql_for(user).pk, actor=user)  # a SAL to qualify
            queued = mql_for(reps[1])  # the team's queue
            Handover.objects.filter(pk=queued.pk).update(owner=None, team=team)

    def render():
        with CaptureQueriesContext(connection) as ctx:
            html = client.get(reverse("handover:inbox")).content.decode()
        return len(ctx.captured_queries), html.count('class="inbox-row"')

    add(1)
    queries, rows = render()
    add(4)
    more_queries, more_rows = render()
    assert more_rows > rows
    assert more_queries == queries


@pytest.mark.django_db
def test_sals_to_qualify_runs_clocks_first_by_deadline_then_longest_in_sal(reps, mql_for):
    from handover.services import handover_accept

    rep = reps[0]
    now = timezone.now()
    leads = {}
    for name in ("later", "sooner", "old", "new"):
        handover = handover_accept(handover_id=mql_for(rep, first_name=name).pk, actor=rep)
        leads[name] = handover.lead_id
    clock = SlaTimer.objects.filter(state=SlaTimer.State.RUNNING)
    clock.filter(lead_id=leads["later"]).update(due_at=now + timedelta(hours=5))
    clock.filter(lead_id=leads["sooner"]).update(due_at=now + timedelta(minutes=5))
    clock.filter(lead_id__in=[leads["old"], leads["new"]]).update(state=SlaTimer.State.MET)
    Lead.objects.filter(pk=leads["old"]).update(stage_changed_at=now - timedelta(days=3))
    Lead.objects.filter(pk=leads["new"]).update(stage_changed_at=now - timedelta(days=1))
    mql_for(reps[1])  # someone else's

    rows = selectors.sals_to_qualify(user=rep)
    assert [lead.first_name for lead in rows] == ["sooner", "later", "old", "new"]
    assert rows[0].sla_due == now + timedelta(minutes=5)
    assert rows[2].sla_due is None
    assert [lead.first_name for lead in selectors.sals_to_qualify(user=rep, limit=1)] == ["sooner"]
    assert [lead.first_name for lead in selectors.sals_to_qualify(user=rep, limit=3)] == [
        "sooner", "later", "old",
    ]  # fmt: skip


@pytest.mark.django_db
def test_inbox_rows_carry_their_links_owner_and_countdown(client, reps, team, manager, mql_for):
    """The rows are built as strings in the view (for speed): each keeps its own links,
    owner label and deadline, as the template's {% url %} and filters rendered them."""
    from handover.services import handover_accept

    rep = reps[0]
    mine = mql_for(rep, first_name="Mine")
    due = timezone.now() + timedelta(hours=2, minutes=30)
    SlaTimer.objects.filter(handover=mine).update(due_at=due)
    queued = mql_for(reps[1], first_name="Queued")
    Handover.objects.filter(pk=queued.pk).update(owner=None, team=team)
    theirs = mql_for(reps[1], first_name="Theirs")
    sal = mql_for(rep, first_name="Accepted")
    handover_accept(handover_id=sal.pk, actor=rep)

    client.force_login(rep)
    html = client.get(reverse("handover:inbox")).content.decode()
    row = html[html.index(f'id="handover-{mine.pk}"') :]
    row = row[: row.index("</li>")]
    assert f'data-reject-url="{reverse("handover:reject", args=[mine.pk])}"' in row
    assert f'href="{reverse("leads:detail", args=[mine.lead_id])}"' in row
    assert f'action="{reverse("handover:accept", args=[mine.pk])}"' in row
    assert f'data-owner="{rep.pk}"><span class="muted">Owner:</span> you<' in row
    assert f'datetime="{due.isoformat()}"' in row
    assert f"Accept or reject by {timezone.localtime(due):%a %d %b %H:%M}" in row
    assert "due 2\xa0hours, 29\xa0minutes<" in row or "due 2\xa0hours, 30\xa0minutes<" in row
    queue_row = html[html.index(f'id="handover-{queued.pk}"') :]
    assert 'data-owner=""><span class="muted">Owner:</span> team queue<' in queue_row
    assert f'href="{reverse("handover:qualify", args=[sal.lead_id])}"' in html

    client.force_login(manager)
    html = client.get(reverse("handover:inbox")).content.decode()
    row = html[html.index(f'id="handover-{theirs.pk}"') :]
    assert f'<span class="muted">Owner:</span> {reps[1]}<' in row[: row.index("</li>")]


@pytest.mark.django_db
def test_qualify_page_lists_required_criteria_without_an_empty_item(client, reps, mql_for):
    """Issue 17: the list read "required: Need, ." (Need is not the last criterion)."""
    fw = framework(code="bant")
    handover = mql_for(reps[0])
    client.force_login(reps[0])
    client.post(reverse("handover:accept", args=[handover.pk]))
    html = client.get(
        reverse("handover:qualify", args=[handover.lead_id]), {"framework": fw.code}
    ).content.decode()
    assert "required: Need." in html
    assert ", ." not in html

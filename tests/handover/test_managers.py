"""Managers act on their own teams' handovers and leads (issue 17): the SAL inbox shows them,
they accept, reject and reassign them; another team's are refused (403/404); admins act on all."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from bulk.models import BulkOutcome
from handover import selectors, services
from handover.models import Handover, HandoverAssignment, SlaTimer
from leadflow.exceptions import PermissionDeniedError
from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, Team
from leads.services import lead_mark_mql
from tests.handover.factories import policy
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_team(db):
    """Team B: its own manager and rep."""
    boss = UserFactory(username="boss_b", role=Role.SALES_MANAGER)
    team = Team.objects.create(name="Field sales", manager=boss)
    rep = UserFactory(username="rep_b", role=Role.SALES_REP, first_name="Bea", last_name="B")
    team.members.add(rep)
    return team


@pytest.fixture
def mql(db):
    """An MQL owned by ``owner`` in ``team``, its handover open with a running MQL clock."""
    policy(stage="mql", target=480, warn=60)

    def make(owner, team, **fields):
        lead = LeadFactory(stage=Stage.LEAD, owner=owner, team=team, **fields)
        lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
        return Handover.objects.get(lead=lead, status=Handover.Status.OPEN)

    return make


@pytest.fixture
def admin(db):
    return UserFactory(username="ada", role=Role.ADMIN)


def test_manager_inbox_holds_every_waiting_handover_of_their_teams_most_urgent_first(
    manager, team, reps, other_team, mql
):
    later = mql(reps[0], team, first_name="Later")
    sooner = mql(reps[1], team, first_name="Sooner")
    queued = mql(None, team, first_name="Queued")
    Handover.objects.filter(pk=queued.pk).update(owner=None)
    elsewhere = mql(other_team.members.get(), other_team, first_name="Elsewhere")
    SlaTimer.objects.filter(handover=sooner).update(due_at=timezone.now() + timedelta(minutes=5))
    SlaTimer.objects.filter(handover=later).update(due_at=timezone.now() + timedelta(hours=5))

    rows = selectors.inbox_rows(user=manager)
    assert [h.pk for h in rows][:2] == [sooner.pk, later.pk]
    assert {h.pk for h in rows} == {sooner.pk, later.pk, queued.pk}
    assert elsewhere.pk not in {h.pk for h in selectors.handover_inbox(user=manager)}
    # filtered by rep, by the queue, by one lead
    assert [h.pk for h in selectors.inbox_rows(user=manager, owner=str(reps[1].pk))] == [sooner.pk]
    assert [h.pk for h in selectors.inbox_rows(user=manager, owner="none")] == [queued.pk]
    assert [h.pk for h in selectors.inbox_rows(user=manager, lead_id=later.lead_id)] == [later.pk]


def test_inbox_page_for_a_manager_has_owner_column_filter_and_keys(
    client, manager, team, reps, other_team, mql
):
    mine = mql(reps[0], team, first_name="Rita's", last_name="Lead")
    mql(other_team.members.get(), other_team, first_name="Bea's")
    client.force_login(manager)
    html = client.get(reverse("handover:inbox")).content.decode()
    assert f'id="handover-{mine.pk}"' in html
    assert f'data-owner="{reps[0].pk}"' in html
    assert "Bea&#x27;s" not in html
    assert "Bea's" not in html
    assert 'aria-keyshortcuts="a"' in html
    assert "data-countdown" in html
    assert f'<option value="{reps[0].pk}"' in html  # the filter by rep
    assert f'<option value="{other_team.members.get().pk}"' not in html
    filtered = client.get(reverse("handover:inbox"), {"owner": reps[1].pk}).content.decode()
    assert f'id="handover-{mine.pk}"' not in filtered
    assert "Nothing waiting that matches this filter" in filtered
    # junk filters are ignored, never a 500
    assert (
        client.get(reverse("handover:inbox"), {"owner": "x'", "lead": "9" * 40}).status_code == 200
    )


def test_inbox_owner_filter_offers_mine_my_teams_or_all_and_refuses_other_teams(
    client, manager, team, reps, other_team, mql, admin
):
    team.members.add(manager)  # a manager who sells too
    own = mql(manager, team, first_name="Own")
    theirs = mql(reps[0], team, first_name="Theirs")
    client.force_login(manager)
    html = client.get(reverse("handover:inbox")).content.decode()
    assert '<option value="">Everyone in my teams</option>' in html
    assert f'<option value="{manager.pk}">Mine (' in html
    mine = client.get(reverse("handover:inbox"), {"owner": manager.pk}).content.decode()
    assert f'id="handover-{own.pk}"' in mine
    assert f'id="handover-{theirs.pk}"' not in mine
    # someone of another team: not a silent empty list, the reason and the whole inbox
    outsider = other_team.members.get()
    refused = client.get(reverse("handover:inbox"), {"owner": outsider.pk}).content.decode()
    assert "not in a team you manage" in refused
    assert f'id="handover-{own.pk}"' in refused
    assert f'id="handover-{theirs.pk}"' in refused
    assert f'value="{outsider.pk}" selected' not in refused
    client.force_login(admin)
    assert '<option value="">All teams</option>' in client.get(reverse("handover:inbox")).text


def test_manager_accepts_and_rejects_their_reps_handovers(client, manager, team, reps, mql):
    accept_me = mql(reps[0], team, first_name="Alice")
    reject_me = mql(reps[1], team, first_name="Bob")
    client.force_login(manager)
    response = client.post(reverse("handover:accept", args=[accept_me.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "it is a SAL now" in response.content.decode()
    accept_me.refresh_from_db()
    assert (accept_me.status, accept_me.decided_by, accept_me.owner) == (
        "accepted",
        manager,
        reps[0],  # the rep keeps the lead: the manager decided for the team
    )
    assert Lead.objects.get(pk=accept_me.lead_id).owner == reps[0]

    response = client.post(
        reverse("handover:reject", args=[reject_me.pk]),
        {"reason": "other", "comment": "Talk after the merger", "owner": str(reps[1].pk)},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("handover:inbox") + f"?owner={reps[1].pk}"
    reject_me.refresh_from_db()
    assert (reject_me.status, reject_me.reason_code, reject_me.comment) == (
        "rejected",
        "other",
        "Talk after the merger",
    )
    assert Lead.objects.get(pk=reject_me.lead_id).stage == Stage.NURTURE


def test_manager_of_another_team_is_refused_every_action(
    client, manager, team, reps, other_team, mql
):
    handover = mql(reps[0], team)
    boss_b = other_team.manager
    with pytest.raises(services.NotHandoverOwnerError):
        services.handover_accept(handover_id=handover.pk, actor=boss_b)
    with pytest.raises(PermissionDeniedError):
        services.lead_reassign(
            lead_id=handover.lead_id, owner_id=other_team.members.get().pk, actor=boss_b
        )
    client.force_login(boss_b)
    assert client.post(reverse("handover:accept", args=[handover.pk])).status_code == 403
    assert (
        client.post(reverse("handover:accept", args=[handover.pk]), HTTP_HX_REQUEST="true")
    ).status_code == 403
    reject = client.post(reverse("handover:reject", args=[handover.pk]), {"reason": "duplicate"})
    assert reject.status_code == 403
    reassign = client.post(
        reverse("handover:lead_reassign", args=[handover.lead_id]), {"owner": reps[1].pk}
    )
    assert reassign.status_code == 403
    bulk = client.post(  # the bulk Assign action, to a rep boss_b may give leads to
        reverse("bulk:apply"),
        {
            "action": "assign",
            "lead": [handover.lead_id],
            "owner": other_team.members.get().pk,
            "token": str(uuid.uuid4()),
        },
    )
    assert bulk.status_code == 302
    assert BulkOutcome.objects.get(lead_id=handover.lead_id).result == "refused"
    api = APIClient()
    api.force_authenticate(boss_b)
    assert api.post(f"/api/v1/handovers/{handover.pk}/accept/").status_code == 403
    assert (
        api.post(f"/api/v1/handovers/{handover.pk}/reassign/", {"owner": reps[1].pk}).status_code
        == 403
    )
    handover.refresh_from_db()
    lead = Lead.objects.get(pk=handover.lead_id)
    assert (handover.status, handover.owner, lead.owner, lead.stage) == (
        "open",
        reps[0],
        reps[0],
        Stage.MQL,
    )
    # and the lead page offers them neither the decision nor a reassign
    panel = client.get(reverse("handover:lead_panel", args=[lead.pk])).content.decode()
    assert "Accept or reject" not in panel
    assert "Reassign to" not in panel


def test_admin_acts_on_every_team(admin, team, reps, other_team, mql):
    theirs = mql(other_team.members.get(), other_team)
    assert theirs.pk in {h.pk for h in selectors.inbox_rows(user=admin)}
    services.lead_reassign(lead_id=theirs.lead_id, owner_id=reps[0].pk, actor=admin)
    services.handover_accept(handover_id=theirs.pk, actor=admin)
    theirs.refresh_from_db()
    assert (theirs.status, theirs.owner) == ("accepted", reps[0])


def test_reassign_from_the_lead_page_moves_handover_and_clock_and_is_audited(
    client, manager, team, reps, mql
):
    handover = mql(reps[0], team, first_name="Moving")
    timer = SlaTimer.objects.get(handover=handover, state=SlaTimer.State.RUNNING)
    client.force_login(manager)
    panel = client.get(reverse("handover:lead_panel", args=[handover.lead_id])).content.decode()
    assert f"?lead={handover.lead_id}#handover-{handover.pk}" in panel  # the decision, filtered
    assert "Reassign to" in panel
    assert f'<option value="{reps[1].pk}">' in panel
    assert f'<option value="{reps[0].pk}">' not in panel  # already the owner

    response = client.post(
        reverse("handover:lead_reassign", args=[handover.lead_id]), {"owner": reps[1].pk}
    )
    assert response.status_code == 302
    handover.refresh_from_db()
    moved = SlaTimer.objects.get(pk=timer.pk)
    assert Lead.objects.get(pk=handover.lead_id).owner == reps[1]
    assert handover.owner == reps[1]
    assert (moved.owner_id, moved.due_at, moved.state) == (reps[1].pk, timer.due_at, "running")
    assert HandoverAssignment.objects.filter(
        handover=handover, owner=reps[1], assigned_by=manager
    ).exists()
    audit = AuditEvent.objects.get(action="lead.reassign")
    assert (audit.actor, audit.target_id) == (manager, str(handover.lead_id))
    assert audit.details["from_owner"] == reps[0].pk
    assert audit.details["to_owner"] == reps[1].pk
    assert handover.pk in {h.pk for h in selectors.inbox_rows(user=reps[1])}


def test_reassign_only_to_a_rep_of_the_managers_teams(client, manager, team, reps, other_team, mql):
    handover = mql(reps[0], team)
    client.force_login(manager)
    outsider = other_team.members.get()
    response = client.post(
        reverse("handover:lead_reassign", args=[handover.lead_id]),
        {"owner": outsider.pk},
        follow=True,
    )
    assert "is not in a team you manage" in response.content.decode()
    assert Lead.objects.get(pk=handover.lead_id).owner == reps[0]
    bad = client.post(reverse("handover:lead_reassign", args=[handover.lead_id]), {"owner": "x"})
    assert bad.status_code == 302
    rep = client
    rep.force_login(reps[0])
    assert (
        rep.post(
            reverse("handover:lead_reassign", args=[handover.lead_id]), {"owner": reps[1].pk}
        ).status_code
        == 403
    )


def test_reassign_an_unassigned_lead_with_no_team(manager, team, reps):
    lead = LeadFactory(stage=Stage.LEAD)
    services.lead_reassign(lead_id=lead.pk, owner_id=reps[0].pk, actor=manager)
    assert Lead.objects.get(pk=lead.pk).owner == reps[0]


def test_lead_page_offers_a_manager_the_moves_the_lifecycle_allows(client, manager, team, reps):
    lead = LeadFactory(stage=Stage.SAL, owner=reps[0], team=team)
    client.force_login(manager)
    html = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    for stage in ("sql", "nurture", "disqualified"):
        assert f'<option value="{stage}">' in html


def test_team_page_counts_link_to_the_filtered_inbox_and_board(client, manager, team, reps, mql):
    mql(reps[0], team)
    client.force_login(manager)
    html = client.get(reverse("reports:manager_home")).content.decode()
    assert f'href="/handover/inbox/?owner={reps[0].pk}"' in html
    assert f'href="/leads/board/?owner={reps[0].pk}"' in html


def test_names_are_escaped_in_the_managers_inbox_and_panel(client, manager, team, reps, mql):
    handover = mql(reps[0], team, first_name="<b>Bold</b>", last_name="<i>")
    client.force_login(manager)
    for url in (
        reverse("handover:inbox"),
        reverse("handover:inbox") + f"?lead={handover.lead_id}",
    ):
        html = client.get(url).content.decode()
        assert "&lt;b&gt;Bold&lt;/b&gt;" in html
        assert "<b>Bold</b>" not in html


def test_a_long_inbox_shows_the_most_urgent_and_says_there_are_more(
    client, admin, team, reps, mql, monkeypatch
):
    monkeypatch.setattr(selectors, "INBOX_LIMIT", 2)
    handovers = [mql(reps[0], team, first_name=f"N{i}") for i in range(3)]
    SlaTimer.objects.filter(handover=handovers[2]).update(due_at=timezone.now())
    client.force_login(admin)
    html = client.get(reverse("handover:inbox")).content.decode()
    assert "Showing the 2 most urgent" in html
    assert f'id="handover-{handovers[2].pk}"' in html
    assert f'id="handover-{handovers[1].pk}"' not in html


def _inbox_row(html, handover):
    row = html[html.index(f'<li class="inbox-row" id="handover-{handover.pk}"') :]
    return row[: row.index("</li>")]


def test_manager_inbox_rows_show_each_reps_handover_its_sla_and_actions_in_bounded_queries(
    manager, team, reps, mql, settings
):
    """The rows are built from columns and written in Python (handover/inbox.py): each keeps
    its owner's name, its lead's name rule, its own deadline (the date in the manager's time
    zone, where a deadline's UTC day is not its local day) and working actions; more rows and
    more owners cost no more queries."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in December, UTC+12 in June
    noon = (timezone.now() + timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
    named = mql(
        reps[0], team, first_name="O'Brien", last_name="& <Sons>", company="Acme & Co",
        job_title="CTO", source="webinar", grade="A", score=87,
    )  # fmt: skip
    nameless = mql(
        reps[1], team, first_name="", last_name="", email=None, domain="", external_id=None,
        company="",
    )  # fmt: skip
    unclocked = mql(reps[2], team, first_name="", last_name="", email=None, domain="")
    Lead.objects.filter(pk=unclocked.lead_id).update(external_id="crm-42")
    queued = mql(reps[1], team, first_name="Queued")
    Handover.objects.filter(pk=queued.pk).update(owner=None)
    overdue = mql(reps[0], team, first_name="Late")
    soon = timezone.now() + timedelta(hours=2, minutes=30)
    dues = {named: noon, nameless: noon - timedelta(hours=2), queued: soon}
    for handover, due in dues.items():
        SlaTimer.objects.filter(handover=handover).update(due_at=due)
    SlaTimer.objects.filter(handover=overdue).update(due_at=timezone.now() - timedelta(minutes=5))
    SlaTimer.objects.filter(handover=unclocked).update(state=SlaTimer.State.MET)

    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    with CaptureQueriesContext(connection) as few:
        html = client.get(reverse("handover:inbox")).content.decode()

    order = [overdue, queued, nameless, named, unclocked]  # most urgent first, no clock last
    assert [html.index(f'id="handover-{h.pk}"') for h in order] == sorted(
        html.index(f'id="handover-{h.pk}"') for h in order
    )
    row = _inbox_row(html, named)
    assert 'data-name="O&#x27;Brien &amp; &lt;Sons&gt;"' in row
    assert '<span class="muted">CTO · Acme &amp; Co</span>' in row
    assert '<span class="score grade-a">87 <b>A</b></span>' in row
    assert '<span class="tag">webinar</span>' in row
    assert f'data-owner="{reps[0].pk}"><span class="muted">Owner:</span> {reps[0]}<' in row
    for handover, due in dues.items():
        clock = _inbox_row(html, handover)
        assert f'datetime="{due.isoformat()}"' in clock
        assert f"Accept or reject by {timezone.localtime(due):%a %d %b %H:%M}" in clock
    # noon UTC is 01:00 the next day in Auckland, two hours earlier is still the day before
    assert timezone.localtime(noon).date() != timezone.localtime(noon - timedelta(hours=2)).date()
    assert "due 2\xa0hours, 29\xa0minutes<" in html or "due 2\xa0hours, 30\xa0minutes<" in html
    assert "due 0\xa0minutes<" in _inbox_row(html, overdue)
    assert '<span class="muted">no SLA</span>' in _inbox_row(html, unclocked)
    assert f'aria-label="Lead #{nameless.lead_id}, , score' in _inbox_row(html, nameless)
    assert '<a class="lead-name" href="' in _inbox_row(html, unclocked)
    assert ">crm-42</a>" in _inbox_row(html, unclocked)
    assert f"Owner:</span> {reps[2]}<" in _inbox_row(html, unclocked)
    assert "Owner:</span> team queue<" in _inbox_row(html, queued)
    accept = reverse("handover:accept", args=[named.pk])
    assert f'action="{accept}" hx-post="{accept}" hx-target="#handover-{named.pk}"' in row
    assert f'data-reject-url="{reverse("handover:reject", args=[named.pk])}"' in row
    assert f'class="secondary reject-open" aria-haspopup="dialog" aria-keyshortcuts="r" data-handover="{named.pk}">' in row  # fmt: skip

    # the row's CSRF token is the page's: accepting from the row works
    token = row.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = client.post(accept, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    named.refresh_from_db()
    assert (named.status, named.decided_by) == (Handover.Status.ACCEPTED, manager)

    # more rows, and owners the page has not named yet: the same queries
    newcomer = UserFactory(username="rep4", role=Role.SALES_REP, first_name="Nia", last_name="N")
    team.members.add(newcomer)
    for owner in (newcomer, reps[0], reps[1], reps[2], newcomer):
        mql(owner, team)
    with CaptureQueriesContext(connection) as more:
        html = client.get(reverse("handover:inbox")).content.decode()
    assert html.count('<li class="inbox-row" id="handover-') == 9
    assert "Owner:</span> Nia N<" in html
    # session, user, permissions, the manager's scope (once a page: it was read three times,
    # 18 queries), the filter's people, the rows, their owners' names, SALs, reasons, the MQA
    # accounts to decide
    assert len(more.captured_queries) == len(few.captured_queries) <= 14

"""The board, lead page, list view and their permissions (Django test client, real DB)."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.lifecycle import ActorKind, Stage, allowed_targets
from leads.models import Lead, Note, SavedView, StageChange, Task, Team
from leads.services import lead_move
from tests.leads.factories import ActivityFactory, LeadFactory, UserFactory


def move(client, lead, to, reason="", expected=None, changed=None, code=""):
    data = {
        "to": to,
        "reason": reason,
        "reason_code": code,
        "expected_stage": expected or lead.stage,
        "expected_changed_at": (changed or lead.stage_changed_at).isoformat(),
    }
    return client.post(reverse("leads:move", args=[lead.pk]), data, HTTP_ACCEPT="application/json")


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.mark.django_db
def test_board_shows_columns_with_counts_and_cards(marketer_client):
    LeadFactory(stage=Stage.LEAD, first_name="Ada", last_name="Lovelace", score=80, grade="A")
    LeadFactory(stage=Stage.LEAD, score=10)
    LeadFactory(stage=Stage.MQL, score=55, source="webinar")
    response = marketer_client.get(reverse("leads:board"))
    assert response.status_code == 200
    html = response.content.decode()
    counts = marketer_client.get(reverse("leads:board_counts")).content.decode()
    assert 'data-count-for="lead" data-count="2" aria-live="polite" hx-swap-oob="true">2<' in counts
    assert 'data-count-for="mql" data-count="1" aria-live="polite" hx-swap-oob="true">1<' in counts
    assert (
        'data-count-for="customer" data-count="0" aria-live="polite" hx-swap-oob="true">0<'
        in counts
    )
    assert "3 leads." in counts
    assert "Ada Lovelace" in html
    assert "webinar" in html
    # best score first in a column
    assert html.index("Ada Lovelace") < html.index('data-stage="lead"', html.index("Ada Lovelace"))
    assert "No leads in this stage." in html
    assert "Content-Security-Policy" in response.headers
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.django_db
def test_board_filters_through_the_shared_filterset(marketer_client):
    LeadFactory(stage=Stage.LEAD, first_name="Webby", source="webinar", score=40)
    LeadFactory(stage=Stage.LEAD, first_name="Organic", source="organic_search", score=40)
    html = marketer_client.get(reverse("leads:board"), {"source": "webinar"}).content.decode()
    assert "Webby" in html
    assert "Organic" not in html
    html = marketer_client.get(reverse("leads:board"), {"score_min": "50"}).content.decode()
    assert "Webby" not in html


@pytest.mark.django_db
def test_bad_filter_shows_field_error_and_keeps_input(marketer_client):
    LeadFactory(stage=Stage.LEAD)
    response = marketer_client.get(reverse("leads:board"), {"score_min": "lots"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Some filters could not be read" in html
    assert 'value="lots"' in html
    assert "Enter a whole number." in html  # score is an integer column


@pytest.mark.django_db
def test_columns_page_by_keyset_through_every_lead(marketer_client):
    for i in range(60):
        LeadFactory(stage=Stage.MQL, score=i % 7)
    seen: list[str] = []
    html = marketer_client.get(reverse("leads:board")).content.decode()
    url = reverse("leads:board_column", args=["mql"])
    seen += [p.split('"')[0] for p in html.split('data-lead="')[1:]]
    while 'hx-get="' + url in html:
        start = html.index('hx-get="' + url) + len('hx-get="')
        next_url = html[start : html.index('"', start)].replace("&amp;", "&")
        html = marketer_client.get(next_url).content.decode()
        seen += [p.split('"')[0] for p in html.split('data-lead="')[1:]]
    assert len(seen) == 60
    assert len(set(seen)) == 60
    scores = list(
        Lead.objects.filter(pk__in=[int(s) for s in seen]).in_bulk().values()
    )  # all there
    assert len(scores) == 60


@pytest.mark.django_db
def test_board_query_count_does_not_grow_with_cards(marketer_client):
    """The same number of queries for one card a column as for thirty (a fixed number per
    column and for the page's bars, whatever they hold)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert marketer_client.get(reverse("leads:board")).status_code == 200
        return len(ctx.captured_queries)

    for stage in (Stage.LEAD, Stage.MQL, Stage.SAL):
        LeadFactory(stage=stage)
    queries()  # warm: the session and the permission caches
    few = queries()
    for stage in (Stage.LEAD, Stage.MQL, Stage.SAL):
        for _ in range(29):
            LeadFactory(stage=stage)
    assert queries() == few
    # among them: the cards' tags, for every column at once; the custom fields and the
    # viewer's roles (which fields they see), once for the filters, cards and columns
    assert few <= 28


@pytest.mark.django_db
def test_drag_move_allowed_and_logged(marketer_client, marketer):
    lead = LeadFactory(stage=Stage.SUSPECT)
    response = move(marketer_client, lead, "lead")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["stage"] == "lead"
    assert 'data-stage="lead"' in body["html"]
    change = StageChange.objects.filter(lead=lead).latest("id")
    assert (change.to_stage, change.source, change.actor) == ("lead", "ui", marketer)


@pytest.mark.django_db
def test_disallowed_move_is_refused_with_the_error_shape(marketer_client):
    lead = LeadFactory(stage=Stage.SUSPECT)
    response = move(marketer_client, lead, "customer")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert "cannot move from Suspect to Customer" in response.json()["error"]["message"]
    lead.refresh_from_db()
    assert lead.stage == Stage.SUSPECT


@pytest.mark.django_db
def test_move_needing_a_reason_without_one_is_refused(marketer_client):
    lead = LeadFactory(stage=Stage.LEAD)
    response = move(marketer_client, lead, "disqualified")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "reason_required",
        "message": "Moving a lead to Disqualified needs a reason.",
        "field": "reason",
    }
    assert move(marketer_client, lead, "disqualified", reason="Student").status_code == 200


@pytest.mark.django_db
def test_stale_page_gets_a_conflict_message_not_a_500(marketer_client, manager):
    lead = LeadFactory(stage=Stage.LEAD)
    shown_at = lead.stage_changed_at
    lead_move(lead_id=lead.pk, to="nurture", actor=manager, source="ui", reason="later")
    response = move(marketer_client, lead, "mql", expected="lead", changed=shown_at)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "stale_lead"
    assert "was moved to Nurture (recycled) by" in error["message"]
    assert "Reload" in error["message"]


@pytest.mark.django_db
def test_stale_form_post_on_the_lead_page_redirects_with_a_message(marketer_client, manager):
    lead = LeadFactory(stage=Stage.LEAD)
    shown_at = lead.stage_changed_at
    lead_move(lead_id=lead.pk, to="mql", actor=manager, source="ui")
    response = marketer_client.post(
        reverse("leads:move", args=[lead.pk]),
        {
            "to": "nurture",
            "reason": "x",
            "expected_stage": "lead",
            "expected_changed_at": shown_at.isoformat(),
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "while you were looking" in response.content.decode()


@pytest.mark.django_db
def test_mql_to_sal_is_left_to_the_inbox(client, manager):
    client.force_login(manager)
    lead = LeadFactory(stage=Stage.MQL)
    response = move(client, lead, "sal")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "use_inbox"


@pytest.mark.django_db
def test_lead_page_shows_profile_history_timeline_and_tasks(marketer_client, marketer):
    lead = LeadFactory(stage=Stage.LEAD, first_name="Grace", company="Hopper Ltd")
    ActivityFactory(lead=lead, name="Pricing page")
    Note.objects.create(
        lead=lead, author=marketer, body="Met at the fair", created_at=timezone.now()
    )
    Task.objects.create(
        lead=lead, title="Call back", created_by=marketer, created_at=timezone.now()
    )
    html = marketer_client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    for text in (
        "Grace",
        "Hopper Ltd",
        "Stage history",
        "Created → Lead",
        "Pricing page",
        "Met at the fair",
        "Call back",
        reverse("handover:lead_panel", args=[lead.pk]),
    ):
        assert text in html


@pytest.mark.django_db
def test_note_form_errors_in_place_and_success_refreshes_timeline(marketer_client):
    lead = LeadFactory(stage=Stage.LEAD)
    url = reverse("leads:note_create", args=[lead.pk])
    response = marketer_client.post(url, {"body": "   "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert (
        "This field is required." in response.content.decode()
        or "Write something" in response.content.decode()
    )
    response = marketer_client.post(url, {"body": "Budget confirmed"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Budget confirmed" in response.content.decode()
    assert Note.objects.get(lead=lead).body == "Budget confirmed"


@pytest.mark.django_db
def test_task_add_keeps_typed_value_on_error_then_completes(marketer_client):
    lead = LeadFactory(stage=Stage.LEAD)
    url = reverse("leads:task_create", args=[lead.pk])
    response = marketer_client.post(
        url, {"title": "Send deck", "due_at": "tomorrow"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'value="Send deck"' in html
    assert "Enter a valid date/time." in html
    due = timezone.localtime() + timedelta(days=3)
    response = marketer_client.post(
        url, {"title": "Send deck", "due_at": f"{due:%Y-%m-%dT%H:%M}"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    task = Task.objects.get(lead=lead)
    marketer_client.post(
        reverse("leads:task_toggle", args=[lead.pk, task.pk]), {"done": "1"}, HTTP_HX_REQUEST="true"
    )
    task.refresh_from_db()
    assert task.done_at is not None


@pytest.mark.django_db
def test_saved_views_are_private(marketer_client, marketer):
    response = marketer_client.post(
        reverse("leads:saved_view_create"),
        {"view_name": "Webinar A", "query": "source=webinar&grade=A"},
    )
    assert response.status_code == 302
    assert "source=webinar" in response["Location"]
    view = SavedView.objects.get(owner=marketer)
    other = UserFactory(username="m2", role=Role.MARKETER)
    marketer_client.force_login(other)
    html = marketer_client.get(reverse("leads:board")).content.decode()
    html = marketer_client.get(reverse("leads:board")).content.decode()  # flash shown and gone
    assert "Webinar A" not in html
    assert "No saved views yet" in html
    marketer_client.post(reverse("leads:saved_view_delete", args=[view.pk]))
    assert SavedView.objects.filter(pk=view.pk).exists()  # not theirs to delete


@pytest.mark.django_db
def test_list_sorts_pages_and_exports_csv(marketer_client, marketer):
    for i in range(55):
        LeadFactory(stage=Stage.LEAD, score=i, company="=HYPERLINK(1)" if i == 54 else "Co")
    html = marketer_client.get(reverse("leads:list"), {"sort": "score"}).content.decode()
    assert "Next page" in html
    assert 'aria-sort="ascending"' in html
    response = marketer_client.get(reverse("leads:export"), {"sort": "-score"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "id"
    assert len(rows) == 56
    assert rows[1][9] == "54"
    assert rows[1][4] == "'=HYPERLINK(1)"
    assert AuditEvent.objects.filter(action="lead.export_csv", actor=marketer).exists()


# --- permissions -------------------------------------------------------------------------------


@pytest.fixture
def two_teams(db, manager):
    mine = Team.objects.create(name="North", manager=manager)
    theirs = Team.objects.create(name="South")
    rep_a = UserFactory(username="rep_a", role=Role.SALES_REP)
    rep_b = UserFactory(username="rep_b", role=Role.SALES_REP)
    mine.members.add(rep_a)
    theirs.members.add(rep_b)
    own = LeadFactory(stage=Stage.SQL, owner=rep_a, team=mine, first_name="Mine")
    other = LeadFactory(stage=Stage.SQL, owner=rep_b, team=theirs, first_name="Theirs")
    return rep_a, rep_b, own, other


@pytest.mark.django_db
def test_rep_cannot_see_or_change_another_teams_leads(client, two_teams):
    rep_a, _, own, other = two_teams
    client.force_login(rep_a)
    board = client.get(reverse("leads:board")).content.decode()
    assert "Mine" in board
    assert "Theirs" not in board
    assert client.get(reverse("leads:detail", args=[other.pk])).status_code == 404
    assert client.get(reverse("handover:lead_panel", args=[other.pk])).status_code == 404
    assert move(client, other, "nurture", reason="x").status_code == 404
    assert (
        client.post(reverse("leads:note_create", args=[other.pk]), {"body": "x"}).status_code == 404
    )
    other.refresh_from_db()
    assert other.stage == Stage.SQL
    assert not Note.objects.filter(lead=other).exists()
    csv_text = b"".join(client.get(reverse("leads:export")).streaming_content).decode()
    assert own.email in csv_text
    assert other.email not in csv_text
    # and their own lead they can work: it leaves SQL with an exit reason
    refused = move(client, own, "nurture", reason="lost")
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "reason_code"
    assert "lost_competitor" in refused.json()["error"]["message"]
    assert move(client, own, "nurture", reason="to Acme", code="lost_competitor").status_code == 200
    change = StageChange.objects.filter(lead=own).latest("id")
    assert (change.reason_code, change.reason) == (
        "lost_competitor",
        "Lost to a competitor: to Acme",
    )


@pytest.mark.django_db
def test_user_without_role_sees_nothing(client):
    nobody = UserFactory(username="nobody")
    client.force_login(nobody)
    assert client.get(reverse("leads:board")).status_code == 403
    assert client.get(reverse("leads:list")).status_code == 403


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("leads:board"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.django_db
def test_role_aware_navigation_and_home(client, marketer, rep, manager):
    client.force_login(marketer)
    html = client.get(reverse("leads:board")).content.decode()
    assert reverse("leads:board") in html
    assert reverse("handover:inbox") not in html
    assert client.get("/")["Location"] == reverse("leads:board")
    client.force_login(rep)
    html = client.get(reverse("handover:inbox")).content.decode()
    assert reverse("handover:inbox") in html
    assert reverse("reports:manager_home") not in html
    assert client.get("/")["Location"] == reverse("handover:inbox")
    client.force_login(manager)
    assert client.get("/")["Location"] == reverse("reports:manager_home")


@pytest.mark.django_db
def test_time_in_stage_and_sla_badge_on_cards(marketer_client, settings):
    lead = LeadFactory(stage=Stage.LEAD, stage_changed_at=timezone.now() - timedelta(days=3))
    html = marketer_client.get(reverse("leads:board")).content.decode()
    assert f'id="lead-{lead.pk}"' in html
    assert "3 d in stage" in html


@pytest.mark.django_db
def test_a_rep_decides_mqls_in_the_inbox_not_by_moving_them(client, rep):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    client.force_login(rep)
    response = move(client, lead, "nurture", reason="not now")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "use_inbox"
    html = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert 'id="move-to"' not in html  # no move form for an MQL for reps


@pytest.mark.django_db
def test_counts_are_capped_so_huge_stages_stay_fast(marketer_client, monkeypatch):
    from leads import selectors

    monkeypatch.setattr(selectors, "BOARD_COUNT_CAP", 3)
    for _ in range(5):
        LeadFactory(stage=Stage.LEAD)
    LeadFactory(stage=Stage.MQL)
    html = marketer_client.get(reverse("leads:board_counts")).content.decode()
    assert 'hx-swap-oob="true">3+<' in html
    assert 'data-count-for="mql" data-count="1" aria-live="polite" hx-swap-oob="true">1<' in html
    assert "More than 3 leads" in html


def card_move_options(html: str, lead: Lead) -> list[str]:
    """The values of a board card's "Move to…" list (empty: the card has none)."""
    select = re.search(rf'<select id="move-{lead.pk}" name="to"[^>]*>(.*?)</select>', html, re.S)
    return re.findall(r'<option value="([^"]*)"', select.group(1)) if select else []


@pytest.mark.django_db
def test_board_cards_offer_only_the_moves_the_table_allows_this_user(client, marketer, rep):
    suspect = LeadFactory(stage=Stage.SUSPECT)
    mql = LeadFactory(stage=Stage.MQL, owner=rep)
    customer = LeadFactory(stage=Stage.CUSTOMER, owner=rep)
    client.force_login(marketer)
    html = client.get(reverse("leads:board")).content.decode()
    assert card_move_options(html, suspect) == ["", "lead", "disqualified"]
    assert card_move_options(html, customer) == []  # nowhere to go: no form at all
    client.force_login(rep)
    html = client.get(reverse("leads:board")).content.decode()
    assert "sal" not in card_move_options(html, mql)  # accepting is the SAL inbox's decision


@pytest.mark.django_db
def test_card_move_over_htmx_moves_the_card_out_of_band(marketer_client, marketer):
    lead = LeadFactory(stage=Stage.SUSPECT, first_name="Kim", last_name="Keys")
    response = marketer_client.post(
        reverse("leads:move", args=[lead.pk]),
        {"to": "lead", "expected_stage": "suspect", "reason": "",
         "expected_changed_at": lead.stage_changed_at.isoformat()},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-swap-oob="afterbegin:#cards-lead"' in html
    assert f'id="lead-{lead.pk}"' in html
    assert "Kim Keys moved to Lead." in html
    # the card in its new column offers the moves from its new stage
    allowed = [s.value for s in allowed_targets(Stage.LEAD, ActorKind.MARKETER)]
    assert card_move_options(html, lead) == ["", *allowed]
    assert '"from": "suspect", "to": "lead"' in response["HX-Trigger-After-Settle"]
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD
    assert StageChange.objects.get(lead=lead, to_stage="lead").actor == marketer


@pytest.mark.django_db
def test_card_move_over_htmx_of_a_lead_moved_meanwhile_is_a_409_and_changes_nothing(
    marketer_client,
):
    lead = LeadFactory(stage=Stage.SUSPECT, first_name="Sam", last_name="Stale")
    seen = lead.stage_changed_at
    lead_move(lead_id=lead.pk, to=Stage.LEAD, actor=None, source=StageChange.Source.UI)
    before = StageChange.objects.filter(lead=lead).count()
    response = marketer_client.post(
        reverse("leads:move", args=[lead.pk]),
        {"to": "disqualified", "expected_stage": "suspect", "reason": "Spam",
         "expected_changed_at": seen.isoformat()},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert response.status_code == 409
    assert response["HX-Reswap"] == "none"
    html = response.content.decode()
    assert '<div id="flash" hx-swap-oob="innerHTML"><p class="flash error">Sam Stale was moved' in (
        html
    )
    assert "cards-" not in html
    assert StageChange.objects.filter(lead=lead).count() == before
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD


@pytest.mark.django_db
def test_card_move_over_htmx_without_a_needed_reason_is_a_422(marketer_client):
    lead = LeadFactory(stage=Stage.SUSPECT)
    response = marketer_client.post(
        reverse("leads:move", args=[lead.pk]),
        {"to": "disqualified", "expected_stage": "suspect", "reason": "",
         "expected_changed_at": lead.stage_changed_at.isoformat()},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert response.status_code == 422
    assert 'class="flash error"' in response.content.decode()
    lead.refresh_from_db()
    assert lead.stage == Stage.SUSPECT

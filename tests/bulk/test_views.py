"""The action bar without JS: a form POST with CSRF, the job page, the export, permissions."""

import csv
import io
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from bulk.models import BulkJob
from handover.models import Handover
from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, Team
from leads.services import lead_mark_mql
from tests.leads.factories import LeadFactory, UserFactory


@pytest.fixture
def team(db, manager):
    return Team.objects.create(name="Inside", manager=manager)


def post(client, **data):
    data.setdefault("token", str(uuid.uuid4()))
    data.setdefault("back", "/leads/list/")
    return client.post(reverse("bulk:apply"), data)


@pytest.mark.django_db
def test_the_list_offers_checkboxes_and_the_actions_the_role_has(client, manager, rep, team):
    LeadFactory(stage=Stage.LEAD, team=team, first_name="Zed")
    client.force_login(manager)
    page = client.get(reverse("leads:list")).content.decode()
    assert 'action="/bulk/apply/"' in page
    assert 'aria-label="Select Zed' in page
    assert 'value="assign"' in page
    assert "Select all matching" in page
    selected = client.get(reverse("leads:list") + "?select=all").content.decode()
    assert "All 1 leads matching these filters are selected." in selected
    board = client.get(reverse("leads:board")).content.decode()
    assert 'class="card-select" name="lead" value=' in board
    assert 'id="bulk-form"' in board
    client.force_login(rep)
    page = client.get(reverse("leads:list")).content.decode()
    assert 'value="move"' in page
    assert 'value="assign"' not in page  # reps do not assign


@pytest.mark.django_db
def test_a_move_without_js_redirects_to_the_outcomes_page(client, manager, team):
    ok = LeadFactory(stage=Stage.SQL, team=team)
    bad = LeadFactory(stage=Stage.MQL, team=team, first_name="Mia", last_name="Q")
    client.force_login(manager)
    response = post(client, action="move", to=Stage.CUSTOMER, lead=[ok.pk, bad.pk])
    assert response.status_code == 302
    job = BulkJob.objects.get()
    assert response["Location"].startswith(reverse("bulk:job", args=[job.pk]))
    page = client.get(response["Location"]).content.decode()
    assert "Move to Customer" in page
    assert 'id="bulk-refused">1<' in page
    assert "Mia Q" in page
    assert "A lead cannot move from MQL to Customer: from MQL it can only go to SAL" in page
    assert Lead.objects.get(pk=ok.pk).stage == Stage.CUSTOMER


@pytest.mark.django_db
def test_bad_input_is_a_message_naming_the_field_never_a_5xx(client, manager, team):
    lead = LeadFactory(stage=Stage.LEAD, team=team)
    client.force_login(manager)
    for data, text in (
        ({"action": "move", "to": "", "lead": [lead.pk]}, "Stage: Choose the stage"),
        (
            {"action": "move", "to": "mql", "lead": ["x1"]},
            "Selection: &#x27;x1&#x27; is not a lead id",
        ),
        ({"action": "move", "to": "mql"}, "Selection: Select at least one lead."),
        ({"action": "move", "to": "mql", "lead": [lead.pk], "token": "nope"}, "Form: "),
        ({"action": "assign", "owner": "", "lead": [lead.pk]}, "Assign to: Choose a rep"),
        ({"action": "frobnicate", "lead": [lead.pk]}, "Action: Unknown bulk action"),
    ):
        response = post(client, **data)
        assert response.status_code == 302, data
        page = client.get(response["Location"]).content.decode()
        assert text in page, (data, text)
    assert not BulkJob.objects.exists()


@pytest.mark.django_db
def test_csrf_is_required(manager, team):
    lead = LeadFactory(stage=Stage.LEAD, team=team)
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    response = post(client, action="move", to="mql", lead=[lead.pk])
    assert response.status_code == 403
    assert not BulkJob.objects.exists()


@pytest.mark.django_db
def test_a_double_submit_makes_one_job(client, manager, team):
    lead = LeadFactory(stage=Stage.LEAD, team=team)
    client.force_login(manager)
    token = str(uuid.uuid4())
    first = post(client, action="move", to="mql", lead=[lead.pk], token=token)
    second = post(client, action="move", to="mql", lead=[lead.pk], token=token)
    assert first["Location"] == second["Location"]
    assert BulkJob.objects.count() == 1


@pytest.mark.django_db
def test_export_of_a_selection_escapes_formulas_and_is_audited(client, rep):
    mine = LeadFactory(stage=Stage.LEAD, owner=rep, company="=HYPERLINK(1)")
    hidden = LeadFactory(stage=Stage.LEAD)
    client.force_login(rep)
    response = post(client, action="export", lead=[mine.pk, hidden.pk])
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:2] == ["id", "email"]
    assert [int(r[0]) for r in rows[1:]] == [mine.pk]  # only what the rep may see
    assert rows[1][4] == "'=HYPERLINK(1)"
    assert AuditEvent.objects.filter(action="lead.export_csv", actor=rep).exists()


@pytest.mark.django_db
def test_a_job_page_is_its_submitters_only(client, manager, rep, team):
    lead = LeadFactory(stage=Stage.LEAD, team=team)
    client.force_login(manager)
    post(client, action="move", to="mql", lead=[lead.pk])
    job = BulkJob.objects.get()
    client.force_login(rep)
    assert client.get(reverse("bulk:job", args=[job.pk])).status_code == 404
    assert client.get(reverse("bulk:outcomes_csv", args=[job.pk])).status_code == 404


@pytest.mark.django_db
def test_a_rep_cannot_post_an_assign(client, rep):
    lead = LeadFactory(stage=Stage.LEAD, owner=rep)
    client.force_login(rep)
    response = post(client, action="assign", owner=str(rep.pk), lead=[lead.pk])
    assert response.status_code == 403
    assert not BulkJob.objects.exists()


@pytest.mark.django_db
def test_a_waiting_job_can_be_cancelled_and_resumed_by_its_submitter(
    client, manager, team, django_capture_on_commit_callbacks
):
    leads = [LeadFactory(stage=Stage.LEAD, team=team) for _ in range(3)]
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=False):  # no worker picks it up
        post(client, action="move", to="mql", all="1", query="")
    job = BulkJob.objects.get()
    assert (job.status, job.total) == ("pending", 3)
    client.post(reverse("bulk:control", args=[job.pk, "cancel"]))
    job.refresh_from_db()
    assert job.status == "cancelled"
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery runs the job
        client.post(reverse("bulk:control", args=[job.pk, "resume"]))
    job.refresh_from_db()
    assert (job.status, job.applied) == ("done", 3)
    assert Lead.objects.filter(pk__in=[lead.pk for lead in leads], stage=Stage.MQL).count() == 3


@pytest.mark.django_db
def test_assign_moves_leads_and_their_open_handovers(client, manager, team):
    """The bulk Assign action (formerly handover's bulk-assign page): each lead goes through
    ``lead_reassign``, so its open handover follows; reps and marketers may not post it."""
    rep_a = UserFactory(username="rep_a", role=Role.SALES_REP)
    rep_b = UserFactory(username="rep_b", role=Role.SALES_REP)
    team.members.add(rep_a, rep_b)
    mql = LeadFactory(stage=Stage.LEAD, team=team, owner=rep_a)
    lead_mark_mql(lead_id=mql.pk, actor=None, source="scoring")
    other = LeadFactory(stage=Stage.LEAD)
    client.force_login(manager)
    response = post(client, action="assign", owner=str(rep_b.pk), lead=[mql.pk, other.pk])
    assert response.status_code == 302
    assert set(Lead.objects.filter(owner=rep_b).values_list("pk", flat=True)) == {mql.pk, other.pk}
    assert Handover.objects.get(lead=mql, status="open").owner == rep_b
    for user in (rep_a, UserFactory(username="mk", role=Role.MARKETER)):
        client.force_login(user)
        response = post(client, action="assign", owner=str(rep_a.pk), lead=[other.pk])
        assert response.status_code == 403
    assert Lead.objects.get(pk=other.pk).owner == rep_b

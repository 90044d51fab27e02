"""Issue 17 item 8: an illegal move says what is illegal and who may make it."""

import pytest
from django.urls import reverse

from leads.lifecycle import Stage, who_may
from tests.leads.factories import LeadFactory


def test_who_may_reads_the_lifecycle_table():
    assert who_may(Stage.MQL, Stage.SAL) == "a sales rep or manager"
    assert who_may(Stage.SUSPECT, Stage.DISQUALIFIED) == "a marketer or manager"


@pytest.mark.django_db
def test_forged_move_without_hidden_fields_names_who_may_make_it(client, marketer):
    """The outside test posted only ``to``: it heard "This field is required."."""
    lead = LeadFactory(stage=Stage.MQL)
    client.force_login(marketer)
    response = client.post(
        reverse("leads:move", args=[lead.pk]), {"to": "sal"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert message.startswith("Only a sales rep or manager can move a lead from MQL to SAL")
    assert "required" not in message
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


@pytest.mark.django_db
def test_forged_move_off_the_table_lists_where_the_lead_can_go(client, marketer):
    lead = LeadFactory(stage=Stage.LEAD)
    client.force_login(marketer)
    response = client.post(reverse("leads:move", args=[lead.pk]), {"to": "customer"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "A lead cannot move from Lead to Customer: from Lead it can only go to MQL" in page


@pytest.mark.django_db
def test_forged_legal_move_without_expected_stage_goes_through(client, marketer):
    lead = LeadFactory(stage=Stage.SUSPECT)
    client.force_login(marketer)
    response = client.post(
        reverse("leads:move", args=[lead.pk]), {"to": "lead"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD

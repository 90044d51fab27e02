"""The account page's rolled-up timeline: members' activities and stage changes and people
joining and leaving, newest first, only of leads the reader may see; loaded after the page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from companies import services
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityKind
from tests.leads.factories import LeadFactory


@pytest.mark.django_db
def test_the_timeline_rolls_up_what_the_readers_members_did(client, rep, marketer):
    account = services.account_create(data={"name": "Tundra Oy"}, actor=None)
    mine = LeadFactory(first_name="Aino", last_name="Mäki", owner=rep, stage=Stage.LEAD)
    theirs = LeadFactory(first_name="Hidden", last_name="Person")
    gone = LeadFactory(first_name="Left", last_name="Early", owner=rep)
    for lead in (mine, theirs, gone):
        services.member_link(lead_id=lead.pk, account_id=account.pk, source="explicit")
    services.member_link(lead_id=gone.pk, account_id=None, source="explicit")
    now = timezone.now()
    lead_services.activity_record(
        lead_id=mine.pk, kind=ActivityKind.WEBINAR, occurred_at=now + timedelta(minutes=1)
    )
    lead_services.activity_record(lead_id=theirs.pk, kind=ActivityKind.DOWNLOAD, occurred_at=now)
    lead_services.lead_mark_mql(lead_id=mine.pk, actor=None, source="scoring")

    client.force_login(rep)
    page = client.get(f"/companies/{account.pk}/").content.decode()
    assert f'hx-get="/companies/{account.pk}/timeline/"' in page
    text = client.get(f"/companies/{account.pk}/timeline/").content.decode()
    assert "Aino Mäki: Webinar" in text
    assert "Aino Mäki: MQL" in text
    assert "Aino Mäki joined" in text
    assert "Left Early left" in text
    assert "Hidden Person" not in text  # not the rep's lead
    assert text.index("Aino Mäki: MQL") < text.index("Aino Mäki joined")  # newest first
    client.force_login(marketer)
    assert (
        "Hidden Person: Download"
        in client.get(f"/companies/{account.pk}/timeline/").content.decode()
    )

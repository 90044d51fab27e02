"""Issue 17 item 8: a timeline row does not repeat its label ("Page view: Page view")."""

import pytest

from leads.selectors import lead_timeline
from tests.leads.factories import ActivityFactory, LeadFactory


@pytest.mark.django_db
def test_activity_named_like_its_kind_shows_the_kind_once():
    lead = LeadFactory()
    ActivityFactory(lead=lead, kind="page_view", name="Page view")
    ActivityFactory(lead=lead, kind="page_view", name="page view ")
    ActivityFactory(lead=lead, kind="page_view", name="/pricing")
    titles = sorted(e.title for e in lead_timeline(lead=lead) if e.kind == "activity")
    assert titles == ["Page view", "Page view", "Page view: /pricing"]

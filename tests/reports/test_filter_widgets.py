"""Issue 17 item 8: report filters are date pickers and selects with a meaningful empty label;
the owner select lists people who own leads."""

import pytest

from leadflow.roles import Role
from tests.leads.factories import LeadFactory, UserFactory


@pytest.mark.django_db
def test_report_filters_use_date_pickers_and_named_empty_choices(client, manager):
    rep = UserFactory(username="rita", role=Role.SALES_REP)
    idle = UserFactory(username="ivan", role=Role.SALES_REP)  # owns no lead
    integration = UserFactory(username="crm-sync", role=Role.INTEGRATION)
    LeadFactory(owner=rep)
    client.force_login(manager)
    page = client.get("/reports/funnel/").content.decode()
    assert 'type="date" name="date_from"' in page
    assert 'type="date" name="date_to"' in page
    assert "---------" not in page
    assert '<option value="" selected>Any owner</option>' in page
    assert '<option value="" selected>Any team</option>' in page
    assert 'placeholder="Any source"' in page
    owner_select = page[
        page.index('name="owner"') : page.index("</select>", page.index('name="owner"'))
    ]
    assert f'value="{rep.pk}"' in owner_select
    assert f'value="{idle.pk}"' not in owner_select
    assert f'value="{integration.pk}"' not in owner_select
    assert f'value="{manager.pk}"' not in owner_select
    point = client.get("/reports/point-in-time/", {"on": "2026-03-01"}).content.decode()
    assert 'type="date" name="on" value="2026-03-01"' in point


@pytest.mark.django_db
def test_any_user_is_still_a_valid_owner_filter_and_stays_selected(client, manager):
    idle = UserFactory(username="ivan", role=Role.SALES_REP)
    client.force_login(manager)
    response = client.get("/reports/funnel/", {"owner": idle.pk})
    assert response.status_code == 200
    assert f'<option value="{idle.pk}" selected>' in response.content.decode()

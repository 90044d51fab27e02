"""Issue 17 item 8: saving a view under a name already used asks before replacing it."""

import pytest
from django.urls import reverse

from leads.models import SavedView


@pytest.mark.django_db
def test_saving_under_an_existing_name_asks_and_replaces_only_when_confirmed(client, marketer):
    client.force_login(marketer)
    url = reverse("leads:saved_view_create")
    client.post(url, {"view_name": "Hot", "query": "grade=A", "next": "list"})
    response = client.post(url, {"view_name": " Hot ", "query": "grade=B", "next": "list"})
    assert response.status_code == 409
    page = response.content.decode()
    assert "Replace the saved view “Hot”?" in page
    assert 'name="replace" value="1"' in page
    assert 'href="/leads/list/?grade=A"' not in page  # "keep" goes back to the filters shown
    assert 'href="/leads/list/?grade=B"' in page
    assert SavedView.objects.get(owner=marketer, name="Hot").query == "grade=A"  # untouched

    confirmed = client.post(
        url, {"view_name": "Hot", "query": "grade=B", "next": "list", "replace": "1"}
    )
    assert confirmed.status_code == 302
    assert SavedView.objects.get(owner=marketer, name="Hot").query == "grade=B"
    assert SavedView.objects.filter(owner=marketer).count() == 1


@pytest.mark.django_db
def test_another_persons_view_of_the_same_name_is_no_conflict(client, marketer, manager):
    SavedView.objects.create(owner=manager, name="Hot", query="grade=A")
    client.force_login(marketer)
    response = client.post(
        reverse("leads:saved_view_create"), {"view_name": "Hot", "query": "grade=B"}
    )
    assert response.status_code == 302
    assert SavedView.objects.get(owner=manager).query == "grade=A"

"""The Settings area's index and its navigation link follow the sections a user may open."""

import pytest
from django.urls import reverse

from configure import sections
from configure.sections import Section
from leadflow.roles import Role
from tests.leads.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_section(monkeypatch):
    section = Section("Webhooks", "index", "handover.manage_webhooks", "Where events are sent.")
    monkeypatch.setattr(sections, "SECTIONS", [section])
    return section


def test_a_user_with_no_section_gets_403_and_no_nav_link(client, rep, one_section):
    client.force_login(rep)
    assert client.get("/settings/").status_code == 403
    assert 'href="/settings/"' not in client.get(reverse("leads:board")).content.decode()


def test_an_admin_sees_the_sections_they_may_open(client, one_section):
    client.force_login(UserFactory(role=Role.ADMIN, is_staff=True))
    page = client.get("/settings/").content.decode()
    assert "Where events are sent." in page
    assert 'href="/settings/"' in client.get(reverse("leads:board")).content.decode()


def test_anonymous_is_sent_to_login(client):
    response = client.get("/settings/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]

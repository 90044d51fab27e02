"""Users in Settings (admins only): create with a role, teams and an initial password; change
role and teams; deactivate, never delete — every change audited with the acting admin."""

import pytest
from django.test import Client
from django.urls import reverse

from handover.models import Handover
from leadflow.models import AuditEvent, User
from leadflow.roles import Role
from leads.models import Lead, Team
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(db):
    return UserFactory(username="ada", role=Role.ADMIN)


@pytest.fixture
def team(db):
    return Team.objects.create(name="Inside sales")


def _can_log_in(username: str, password: str) -> bool:
    """Through the real log-in page (axes needs the request)."""
    response = Client().post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302


def _new_user(team, **extra):
    return {
        "username": "nina",
        "first_name": "Nina",
        "last_name": "New",
        "email": "nina@example.test",
        "role": Role.SALES_REP.value,
        "teams": [str(team.pk)],
        "password1": "a long enough secret 42",
        "password2": "a long enough secret 42",
        **extra,
    }


def test_an_admin_creates_a_sales_rep_in_a_team_who_can_log_in(client, ada, team):
    client.force_login(ada)
    assert client.get(reverse("configure:user_new")).status_code == 200

    response = client.post(reverse("configure:user_new"), _new_user(team))

    assert response.status_code == 302
    nina = User.objects.get(username="nina")
    assert [g.name for g in nina.groups.all()] == [Role.SALES_REP.value]
    assert list(nina.teams.all()) == [team]
    assert nina.has_perm("handover.decide_sal")
    assert _can_log_in("nina", "a long enough secret 42")
    event = AuditEvent.objects.get(action="user.create")
    assert (event.actor, event.target_id, event.details["role"]) == (ada, str(nina.pk), "sales_rep")
    assert event.details["teams"] == ["Inside sales"]
    page = client.get(reverse("configure:users")).content.decode()
    assert "nina@example.test" in page
    assert "Inside sales" in page


@pytest.mark.parametrize(
    ("extra", "field_message"),
    [
        ({"password1": "123", "password2": "123"}, "This password is too short."),
        ({"password2": "something else entirely"}, "The two passwords differ."),
        ({"username": "ada"}, "A user with that username already exists."),
        ({"role": "emperor"}, "Select a valid choice."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
    ],
)
def test_bad_input_names_the_field_and_creates_nobody(client, ada, team, extra, field_message):
    client.force_login(ada)
    count = User.objects.count()

    response = client.post(reverse("configure:user_new"), _new_user(team, **extra))

    assert response.status_code == 422
    assert field_message in response.content.decode()
    assert User.objects.count() == count
    assert not AuditEvent.objects.filter(action="user.create").exists()


def test_changing_role_and_team_is_audited_with_before_and_after(client, ada, team):
    rep = UserFactory(username="rita", role=Role.SALES_REP, first_name="Rita")
    other = Team.objects.create(name="Field sales")
    team.members.add(rep)
    client.force_login(ada)
    data = {"first_name": "Rita", "role": Role.SALES_MANAGER.value, "teams": [str(other.pk)]}

    response = client.post(reverse("configure:user_edit", args=[rep.pk]), data)

    assert response.status_code == 302
    rep = User.objects.get(pk=rep.pk)
    assert [g.name for g in rep.groups.all()] == [Role.SALES_MANAGER.value]
    assert list(rep.teams.all()) == [other]
    event = AuditEvent.objects.get(action="user.update")
    assert event.actor == ada
    assert event.details["changed"]["role"] == {"from": "sales_rep", "to": "sales_manager"}
    assert event.details["changed"]["teams"] == {"from": ["Inside sales"], "to": ["Field sales"]}


def test_deactivating_keeps_the_user_and_their_leads_and_ends_their_login(client, ada):
    rep = UserFactory(username="rita", role=Role.SALES_REP)
    lead = LeadFactory(owner=rep)
    Handover.objects.create(lead=lead, owner=rep, opened_at=lead.created_at)
    rep_client = Client()
    rep_client.force_login(rep)
    assert rep_client.get(reverse("leads:board")).status_code == 200
    client.force_login(ada)

    response = client.post(reverse("configure:user_set_active", args=[rep.pk]), {"active": "0"})

    assert response.status_code == 302
    assert User.objects.get(pk=rep.pk).is_active is False
    assert Lead.objects.get(pk=lead.pk).owner_id == rep.pk
    assert rep_client.get(reverse("leads:board")).status_code == 302  # the session is over
    assert not _can_log_in("rita", "pw")
    event = AuditEvent.objects.get(action="user.deactivate")
    assert (event.actor, event.target_id) == (ada, str(rep.pk))
    page = client.get(reverse("configure:users")).content.decode()
    assert "1 open handover(s) still belong to them" in page

    client.post(reverse("configure:user_set_active", args=[rep.pk]), {"active": "1"})
    assert User.objects.get(pk=rep.pk).is_active is True
    assert AuditEvent.objects.get(action="user.activate").actor == ada


def test_an_admin_cannot_deactivate_themselves(client, ada):
    client.force_login(ada)
    response = client.post(reverse("configure:user_set_active", args=[ada.pk]), {"active": "0"})
    assert response.status_code == 302
    assert User.objects.get(pk=ada.pk).is_active is True
    assert "You cannot deactivate yourself." in client.get(response["Location"]).content.decode()


def test_only_a_superuser_changes_a_superuser(client, ada):
    root = User.objects.create_superuser("root", "root@example.test", "pw")
    client.force_login(ada)
    response = client.post(reverse("configure:user_set_active", args=[root.pk]), {"active": "0"})
    assert response.status_code == 403
    assert User.objects.get(pk=root.pk).is_active is True


@pytest.mark.parametrize("role", [Role.SALES_REP, Role.MARKETER, Role.SALES_MANAGER])
def test_only_admins_manage_users(client, role, team):
    someone = UserFactory(username="someone", role=role)
    client.force_login(someone)
    assert client.get(reverse("configure:users")).status_code == 403
    assert client.post(reverse("configure:user_new"), _new_user(team)).status_code == 403
    url = reverse("configure:user_set_active", args=[someone.pk])
    assert client.post(url, {"active": "0"}).status_code == 403
    assert client.post(reverse("configure:user_unlock", args=[someone.pk])).status_code == 403
    assert not User.objects.filter(username="nina").exists()
    assert User.objects.get(pk=someone.pk).is_active


def test_unlock_log_in_forgets_the_failed_attempts_and_is_audited(client, ada, settings):
    rep = UserFactory(username="rita", role=Role.SALES_REP)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _can_log_in("rita", "wrong")
    assert not _can_log_in("rita", "pw")  # paused
    client.force_login(ada)

    response = client.post(reverse("configure:user_unlock", args=[rep.pk]))

    assert response.status_code == 302
    assert _can_log_in("rita", "pw")
    assert AuditEvent.objects.get(action="auth.unlock").actor == ada

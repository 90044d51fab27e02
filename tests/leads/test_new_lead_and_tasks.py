"""Issue 17: "New lead" in the product, links to the tools each role may use, and task due
dates that refuse typos (2001, 2099) and show the year when it is not this one."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, StageChange, Task
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(client):
    def login(role):
        client.force_login(UserFactory(username=f"u_{role.value}", role=role))
        return client

    return login


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SALES_MANAGER, Role.ADMIN])
def test_new_lead_creates_a_suspect_through_the_service(as_role, role):
    client = as_role(role)
    assert client.get(reverse("leads:new")).status_code == 200
    response = client.post(
        reverse("leads:new"),
        {
            "first_name": "Nina",
            "last_name": "New",
            "email": " Nina@Example.COM ",
            "company": "Example AG",
            "country": "de",
            "company_size": "51-200",
            "source": "event",
        },
    )
    lead = Lead.objects.get(email="nina@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:detail", args=[lead.pk])
    assert (lead.stage, lead.country, lead.domain, lead.source) == (
        Stage.SUSPECT,
        "DE",
        "example.com",
        "event",
    )
    change = StageChange.objects.get(lead=lead)
    assert (change.source, change.actor.username) == ("ui", f"u_{role.value}")


def test_new_lead_field_errors_keep_what_was_typed(as_role):
    client = as_role(Role.MARKETER)
    response = client.post(
        reverse("leads:new"),
        {"first_name": "<b>Kept</b>", "email": "not-an-email", "country": "DEU"},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_email_error"' in html
    assert "Enter a valid email address." in html
    assert 'id="id_country_error"' in html
    assert 'value="&lt;b&gt;Kept&lt;/b&gt;"' in html
    assert not Lead.objects.exists()
    response = client.post(reverse("leads:new"), {"first_name": "No mail"})
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()


def test_new_lead_with_a_known_email_is_refused_with_a_link(as_role):
    known = LeadFactory(email="known@example.com", first_name="Known", company="Old Co")
    client = as_role(Role.MARKETER)
    response = client.post(
        reverse("leads:new"), {"email": "KNOWN@example.com", "company": "New Co"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "already has this e-mail address" in html
    assert f'href="{reverse("leads:detail", args=[known.pk])}"' in html
    known.refresh_from_db()
    assert known.company == "Old Co"  # not updated, as the API's upsert would
    assert Lead.objects.count() == 1


def test_reps_may_not_create_leads_and_csrf_is_checked(as_role):
    assert as_role(Role.SALES_REP).get(reverse("leads:new")).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(UserFactory(username="m2", role=Role.MARKETER))
    assert strict.post(reverse("leads:new"), {"email": "x@example.com"}).status_code == 403
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        (Role.MARKETER, ["/leads/new/", "/privacy/imports/", "/privacy/duplicates/"], []),
        (Role.SALES_MANAGER, ["/leads/new/", "/privacy/duplicates/"], ["/privacy/imports/"]),
        (Role.SALES_REP, [], ["/leads/new/", "/privacy/imports/", "/privacy/duplicates/"]),
    ],
)
def test_each_role_finds_the_tools_it_may_use(as_role, role, shown, hidden):
    html = as_role(role).get(reverse("leads:list")).content.decode()
    for path in shown:
        assert f'href="{path}"' in html
    for path in hidden:
        assert f'href="{path}"' not in html
    board = as_role(role).get(reverse("leads:board")).content.decode()
    assert ('href="/leads/new/"' in board) == ("/leads/new/" in shown)


@pytest.mark.parametrize(
    ("due", "error"),
    [
        ("2001-03-04T10:00", "has passed"),
        ((timezone.localtime() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"), "has passed"),
        ((timezone.localtime() + timedelta(days=6 * 366)).strftime("%Y-%m-%dT%H:%M"), "5 years"),
    ],
    # fixed ids: ids from the dates differ between xdist workers that collect either side of a
    # minute boundary, and xdist then refuses the run ("Different tests were collected")
    ids=["long-ago", "three-days-ago", "six-years-ahead"],
)
def test_task_due_dates_far_off_are_refused_on_the_field(as_role, due, error):
    client = as_role(Role.SALES_REP)
    lead = LeadFactory(owner=UserFactory(username="u_sales_rep"))
    response = client.post(
        reverse("leads:task_create", args=[lead.pk]),
        {"title": "Call back", "due_at": due},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert error in html
    assert 'class="error field-error"' in html
    assert not Task.objects.exists()


def test_task_due_a_little_late_or_next_year_is_kept_and_the_year_shown(as_role):
    client = as_role(Role.SALES_REP)
    lead = LeadFactory(owner=UserFactory(username="u_sales_rep"))
    now = timezone.localtime()
    late = now - timedelta(hours=2)
    next_year = now.replace(year=now.year + 1, month=1, day=15, hour=9, minute=30)
    for due in (late, next_year):
        response = client.post(
            reverse("leads:task_create", args=[lead.pk]),
            {"title": f"Task {due:%Y}", "due_at": f"{due:%Y-%m-%dT%H:%M}"},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200, response.content.decode()
    html = response.content.decode()
    assert f"due 15 Jan {now.year + 1} 09:30" in html
    if late.year == now.year:  # (not in the first two hours of a year)
        assert f"due {late:%d %b %H:%M}" in html  # this year's: no year

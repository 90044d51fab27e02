"""Issue 17: "My tasks" — a person's open tasks across leads, grouped Overdue / Today / Upcoming
in the site time zone, completed once; a manager's team view; a rep sees only their own."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leadflow.roles import Role
from leads import selectors
from leads.models import Task, Team
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
URL = "/leads/tasks/"


def _task(user, title, due_at=None, *, lead=None, done=False):
    return Task.objects.create(
        lead=lead or LeadFactory(owner=user),
        title=title,
        due_at=due_at,
        assignee=user,
        created_by=user,
        created_at=timezone.now(),
        done_at=timezone.now() if done else None,
    )


@pytest.fixture
def rita():
    return UserFactory(username="rita", role=Role.SALES_REP, first_name="Rita", last_name="Rep")


@pytest.fixture
def raj():
    return UserFactory(username="raj", role=Role.SALES_REP, first_name="Raj", last_name="Rep")


def _section(html, key):
    return html.split(f'id="tasks-{key}-h"')[1].split("</section>")[0]


def test_groups_follow_the_site_time_zone(settings, rita):
    settings.TIME_ZONE = "Pacific/Auckland"  # far from UTC: "today" is not UTC's today
    timezone.activate("Pacific/Auckland")
    try:
        now = datetime(2026, 3, 10, 22, 30, tzinfo=timezone.get_current_timezone())
        tasks = {
            "late": _task(rita, "late", now - timedelta(hours=1)),
            "tonight": _task(rita, "tonight", now + timedelta(minutes=60)),  # 23:30 local
            "tomorrow": _task(rita, "tomorrow", now + timedelta(hours=2)),  # 00:30 next day
            "someday": _task(rita, "someday"),
        }
        groups = selectors.open_tasks_grouped(tasks=selectors.tasks_visible_qs(user=rita), now=now)
        assert [t.title for t in groups.overdue] == ["late"]
        assert [t.title for t in groups.today] == ["tonight"]
        assert [t.title for t in groups.upcoming] == ["tomorrow", "someday"]  # undated last
        assert tasks
    finally:
        timezone.deactivate()


def test_rep_sees_only_their_open_tasks_with_links_and_years(client, rita, raj):
    now = timezone.now()
    _task(rita, "Call back Lena", now - timedelta(hours=3))
    _task(rita, "Send the case study", now + timedelta(minutes=1))
    next_year = timezone.localtime(now).replace(month=1, day=20, hour=9, minute=0)
    next_year = next_year.replace(year=next_year.year + 1)
    mine = _task(rita, "Renewal talk", next_year)
    _task(rita, "Already done", now, done=True)
    _task(raj, "Raj's secret task", now)
    client.force_login(rita)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Call back Lena" in _section(html, "overdue")
    assert "Send the case study" in _section(html, "today") or "Send the case study" in (
        _section(html, "upcoming")  # at 23:59 local "in a minute" is tomorrow
    )
    upcoming = _section(html, "upcoming")
    assert "Renewal talk" in upcoming
    assert f"20 Jan {next_year.year} 09:00" in upcoming
    assert reverse("leads:detail", args=[mine.lead_id]) in upcoming
    assert "Already done" not in html
    assert "Raj&#x27;s secret task" not in html
    assert "Raj's secret task" not in html
    # a rep has no team view: the parameters change nothing
    other = client.get(URL, {"view": "team", "rep": raj.pk}).content.decode()
    assert "secret task" not in other
    assert "My team" not in other


def test_nav_link_for_reps_and_managers_only(client, rita):
    client.force_login(rita)
    assert 'href="/leads/tasks/"' in client.get(reverse("leads:board")).content.decode()
    manager = UserFactory(username="maria", role=Role.SALES_MANAGER)
    client.force_login(manager)
    assert 'href="/leads/tasks/"' in client.get(reverse("leads:board")).content.decode()
    client.force_login(UserFactory(username="mark", role=Role.MARKETER))
    assert 'href="/leads/tasks/"' not in client.get(reverse("leads:board")).content.decode()


def test_task_on_a_lead_the_rep_no_longer_sees_is_not_listed(client, rita, raj):
    moved = _task(rita, "Left behind", timezone.now())
    moved.lead.owner = raj
    moved.lead.save(update_fields=["owner"])
    client.force_login(rita)
    assert "Left behind" not in client.get(URL).content.decode()
    response = client.post(reverse("leads:my_task_complete", args=[moved.pk]), **HTMX)
    assert response.status_code == 404


def test_complete_once_even_when_clicked_twice(client, rita):
    task = _task(rita, "Call back", timezone.now())
    client.force_login(rita)
    url = reverse("leads:my_task_complete", args=[task.pk])
    first = client.post(url, **HTMX)
    assert first.status_code == 200
    assert "completed" in first.content.decode()
    task.refresh_from_db()
    done_at = task.done_at
    assert done_at is not None
    second = client.post(url, **HTMX)
    assert "was already completed" in second.content.decode()
    task.refresh_from_db()
    assert task.done_at == done_at
    assert "Call back" not in client.get(URL).content.decode()
    # without JavaScript: back to the page with a message
    other = _task(rita, "Plain form", timezone.now())
    response = client.post(reverse("leads:my_task_complete", args=[other.pk]))
    assert response.status_code == 302


def test_completing_needs_csrf_and_ones_own_task(rita, raj):
    task = _task(raj, "Raj's", timezone.now())
    mine = _task(rita, "Mine", timezone.now())
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(rita)
    assert strict.post(reverse("leads:my_task_complete", args=[mine.pk])).status_code == 403
    client = Client()
    client.force_login(rita)
    assert client.post(reverse("leads:my_task_complete", args=[task.pk])).status_code == 404
    assert client.get(reverse("leads:my_task_complete", args=[mine.pk])).status_code == 405
    task.refresh_from_db()
    mine.refresh_from_db()
    assert task.done_at is None
    assert mine.done_at is None


def test_manager_switches_to_the_team_and_filters_by_rep(client, rita, raj):
    manager = UserFactory(username="maria", role=Role.SALES_MANAGER, first_name="Maria")
    team = Team.objects.create(name="Inside", manager=manager)
    team.members.add(rita, raj)
    outsider = UserFactory(username="otto", role=Role.SALES_REP, first_name="Otto")
    Team.objects.create(name="Field").members.add(outsider)
    _task(rita, "Rita's call", timezone.now())
    _task(raj, "Raj's demo", timezone.now())
    _task(outsider, "Otto's visit", timezone.now())
    _task(manager, "Maria's review", timezone.now())
    client.force_login(manager)
    own = client.get(URL).content.decode()
    assert "Maria&#x27;s review" in own
    assert "Rita&#x27;s call" not in own
    team_html = client.get(URL, {"view": "team"}).content.decode()
    assert "Rita&#x27;s call" in team_html
    assert "Raj&#x27;s demo" in team_html
    assert "Otto" not in team_html
    one = client.get(URL, {"view": "team", "rep": raj.pk}).content.decode()
    assert "Raj&#x27;s demo" in one
    assert "Rita&#x27;s call" not in one
    bad = client.get(URL, {"view": "team", "rep": outsider.pk})
    assert bad.status_code == 400
    assert "not in your teams" in bad.content.decode()
    assert "Otto&#x27;s visit" not in bad.content.decode()
    # a manager may tick off a team member's task, not an outsider's
    rita_task = Task.objects.get(title="Rita's call")
    otto_task = Task.objects.get(title="Otto's visit")
    assert client.post(reverse("leads:my_task_complete", args=[rita_task.pk])).status_code == 302
    assert client.post(reverse("leads:my_task_complete", args=[otto_task.pk])).status_code == 404


def test_query_count_does_not_grow_with_tasks(client, rita):
    client.force_login(rita)
    for i in range(3):
        _task(rita, f"t{i}", timezone.now() + timedelta(days=i - 1))
    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    for i in range(30):
        _task(rita, f"more{i}", timezone.now() + timedelta(days=i - 10))
    with CaptureQueriesContext(connection) as many:
        assert client.get(URL).content.decode().count('class="task-title"') == 33
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.postgres
def test_my_tasks_query_uses_the_open_tasks_index(rita):
    """EXPLAIN on PostgreSQL with planner statistics: one rep's open tasks among many come from
    task_assignee_open_idx, not a scan of every task."""
    people = [UserFactory(username=f"p{i}", role=Role.SALES_REP) for i in range(40)]
    leads = [LeadFactory(owner=p) for p in people]
    now = timezone.now()
    Task.objects.bulk_create(
        Task(
            lead=leads[i % 40],
            title=f"t{i}",
            assignee=people[i % 40],
            due_at=now + timedelta(hours=i % 500),
            created_at=now,
            done_at=now if i % 3 else None,
        )
        for i in range(20_000)
    )
    _task(rita, "mine", now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_task")
    tasks = selectors.tasks_visible_qs(user=rita)
    with CaptureQueriesContext(connection) as ctx:
        groups = selectors.open_tasks_grouped(tasks=tasks, now=now)
    assert [t.title for t in groups.today + groups.overdue + groups.upcoming] == ["mine"]
    sql = ctx.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "task_assignee_open_idx" in plan, plan
    assert "Seq Scan on leads_task" not in plan, plan

"""The audit log page (issue 17): admins only, filters, newest first, keyset pages, CSV."""

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leadflow.audit import audit_record
from leadflow.models import AuditEvent
from leadflow.roles import Role
from privacy import auditlog
from privacy.gdpr import lead_erase, lead_export
from tests.leads.factories import LeadFactory, UserFactory

PAGE = reverse("privacy:audit_log")
CSV = reverse("privacy:audit_log_csv")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _at(event, when):
    AuditEvent.objects.filter(pk=event.pk).update(at=when)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.SALES_REP, Role.SALES_MANAGER, Role.MARKETER])
def test_only_admins_read_the_audit_log(client, role):
    client.force_login(UserFactory(role=role))
    assert client.get(PAGE).status_code == 403
    assert client.get(CSV).status_code == 403
    assert 'href="/privacy/audit/"' not in client.get(reverse("leads:list")).text


@pytest.mark.django_db
def test_anonymous_is_sent_to_log_in(client):
    assert client.get(PAGE).status_code == 302


@pytest.mark.django_db
def test_newest_first_with_lead_links_and_keyset_pages(admin_client, admin_user):
    lead = LeadFactory()
    base = timezone.now() - timedelta(days=1)
    for i in range(auditlog.PAGE_SIZE + 5):
        event = audit_record(action="test.thing", actor=admin_user, target_type="lead",
                             target_id=lead.pk if i == 0 else "")  # fmt: skip
        _at(event, base + timedelta(minutes=i // 2))  # pairs share a time: ties by id
    first = admin_client.get(PAGE, {"action": "test.thing"})
    assert first.status_code == 200
    rows = first.context["rows"]
    assert len(rows) == auditlog.PAGE_SIZE
    keys = [(r.at, r.pk) for r in rows]
    assert keys == sorted(keys, reverse=True)
    assert first.context["next_url"]
    second = admin_client.get(PAGE + first.context["next_url"])
    rest = second.context["rows"]
    assert len(rest) == 5
    assert not second.context["next_url"]
    seen = [r.pk for r in rows + rest]
    assert len(set(seen)) == auditlog.PAGE_SIZE + 5  # every entry once, none skipped
    assert f'href="{reverse("leads:detail", args=[lead.pk])}"' in second.text


@pytest.mark.django_db
def test_only_leads_that_still_exist_are_linked(admin_client, admin_user):
    kept, gone = LeadFactory(), LeadFactory()
    for lead in (kept, gone):
        audit_record(action="test.thing", actor=admin_user, target_type="lead", target_id=lead.pk)
    audit_record(action="test.thing", actor=admin_user, target_type="lead", target_id="x1")
    gone_id = gone.pk
    gone.delete()
    page = admin_client.get(PAGE, {"action": "test.thing"}).text
    assert f'href="{reverse("leads:detail", args=[kept.pk])}"' in page
    assert f'href="{reverse("leads:detail", args=[gone_id])}"' not in page
    assert f"lead {gone_id}" in page  # still named, just not linked


@pytest.mark.django_db
def test_filters_actor_action_lead_and_dates(admin_client, admin_user):
    other = UserFactory(username="otto", role=Role.ADMIN)
    ada = LeadFactory(email="ada@example.com")
    bob = LeadFactory(email="bob@example.com")
    e1 = audit_record(action="lead.export", actor=admin_user, target_type="lead", target_id=ada.pk)
    e2 = audit_record(action="lead.merge", actor=other, target_type="lead", target_id=bob.pk)
    e3 = audit_record(action="apikey.create", actor=other, target_type="apikey", target_id=7)
    _at(e1, datetime(2026, 3, 1, 12, tzinfo=timezone.get_current_timezone()))
    _at(e2, datetime(2026, 3, 2, 23, 59, tzinfo=timezone.get_current_timezone()))
    _at(e3, datetime(2026, 3, 3, 0, 0, tzinfo=timezone.get_current_timezone()))

    def ids(**params):
        response = admin_client.get(PAGE, params)
        assert response.status_code == 200, response.context["form"].errors
        return [r.pk for r in response.context["rows"] if r.pk in {e1.pk, e2.pk, e3.pk}]

    assert ids(actor=other.pk) == [e3.pk, e2.pk]
    assert ids(action="lead.merge") == [e2.pk]
    assert ids(lead=ada.pk) == [e1.pk]
    assert ids(lead=f"#{bob.pk}") == [e2.pk]
    assert ids(lead="ADA@example.com") == [e1.pk]
    assert ids(date_from="2026-03-02", date_to="2026-03-02") == [e2.pk]  # both days inclusive
    assert ids(date_from="2026-03-02") == [e3.pk, e2.pk]
    assert ids(date_to="2026-03-01") == [e1.pk]
    assert ids(lead="nobody@example.com") == []


@pytest.mark.django_db
def test_an_erased_person_is_found_by_email_through_the_subject_hash(admin_client, admin_user):
    lead = LeadFactory(email="gone@example.com")
    lead_export(lead_id=lead.pk, actor=admin_user)
    lead_erase(lead_id=lead.pk, actor=admin_user)
    audit_record(action="lead.export", actor=admin_user, target_type="lead", target_id=999)
    response = admin_client.get(PAGE, {"lead": "Gone@example.com"})
    actions = [r.action for r in response.context["rows"]]
    assert actions == ["lead.erase", "lead.export"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lead": "not a lead"}, "Enter a lead id (a number) or an e-mail address."),
        ({"lead": "9" * 30}, "That lead id is too large."),
        ({"date_from": "2026-13-45"}, "Enter a valid date."),
        ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "The end date is before"),
        ({"actor": "abc"}, "Select a valid choice."),
        ({"action": "no.such.action"}, "Select a valid choice."),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(admin_client, params, message):
    response = admin_client.get(PAGE, params)
    assert response.status_code == 400
    assert message in response.text
    assert admin_client.get(CSV, params).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("after", ["garbage", "2026-01-01|x", "|5", "2026-01-01T00:00|" + "9" * 30])
def test_a_bad_page_cursor_shows_the_newest_entries(admin_client, admin_user, after):
    audit_record(action="test.thing", actor=admin_user)
    response = admin_client.get(PAGE, {"after": after})
    assert response.status_code == 200
    assert "That page link is not valid" in response.text
    assert [r.action for r in response.context["rows"]][0] == "test.thing"


@pytest.mark.django_db
def test_csv_download_is_filtered_formula_safe_and_audited(admin_client, admin_user):
    lead = LeadFactory(email="ada@example.com")
    lead_export(lead_id=lead.pk, actor=admin_user)
    audit_record(action="apikey.create", actor=admin_user, target_id="=HYPERLINK(1)")
    response = admin_client.get(CSV, {"action": "lead.export"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(auditlog.CSV_HEADER)
    assert len(rows) == 2
    assert rows[1][1:5] == ["admin", "lead.export", "lead", str(lead.pk)]
    assert len(rows[1][5]) == 64  # the subject hash
    everything = admin_client.get(CSV)
    text = b"".join(everything.streaming_content).decode()
    assert ",'=HYPERLINK(1)," in text  # quoted: a spreadsheet does not run it
    assert AuditEvent.objects.filter(action="audit.export_csv", actor=admin_user).count() == 2


@pytest.mark.django_db
def test_page_costs_the_same_queries_however_many_entries(admin_client, admin_user):
    for _ in range(3):
        audit_record(action="test.thing", actor=admin_user)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(PAGE)
    for _ in range(60):
        audit_record(action="test.thing", actor=UserFactory())
    with CaptureQueriesContext(connection) as many:
        admin_client.get(PAGE)
    assert len(many.captured_queries) == len(few.captured_queries)

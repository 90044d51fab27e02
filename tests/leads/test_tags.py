"""Tags on leads (issue 17's bulk tag; issue 24 builds on them): the lead page, bulk tagging,
the board/list/API filter, the API, merges, GDPR exports and Settings › Tags share leads.tags."""

import threading
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from bulk import services as bulk_services
from bulk.models import BulkOutcome
from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads import tags
from leads.models import Lead, Tag
from privacy.gdpr import lead_export
from privacy.merge import lead_merge
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer():
    return UserFactory(username="tagging-marketer", role=Role.MARKETER)


@pytest.fixture
def browser(marketer):
    client = Client()
    client.force_login(marketer)
    return client


def names(lead: Lead) -> list[str]:
    return sorted(lead.tags.values_list("name", flat=True))


def test_lead_page_adds_reuses_in_any_case_and_removes_a_tag_with_audit(browser):
    lead = LeadFactory()
    other = LeadFactory()
    url = reverse("leads:tags", args=[lead.pk])
    page = browser.post(url, {"tag": "  Trade   fair "}, HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    assert "Trade fair" in page.text
    browser.post(reverse("leads:tags", args=[other.pk]), {"tag": "TRADE FAIR"})
    assert Tag.objects.count() == 1  # the same tag, whatever the case typed
    assert names(other) == ["Trade fair"]
    again = browser.post(url, {"tag": "trade fair"}, follow=True)
    assert "It already has that tag." in again.text
    browser.post(url, {"remove": "trade FAIR"})
    assert names(lead) == []
    assert names(other) == ["Trade fair"]
    actions = list(
        AuditEvent.objects.filter(target_type="lead", target_id=str(lead.pk))
        .order_by("id")
        .values_list("action", "details__tag")
    )
    assert actions == [("lead.tag", "Trade fair"), ("lead.untag", "Trade fair")]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Type a tag name."),
        ("   ", "Type a tag name."),
        ("x" * 51, "Keep tag names to 50 characters."),
        ("bell\x07", "control characters"),
    ],
)
def test_bad_tag_names_are_a_422_naming_why_and_write_nothing(browser, typed, message):
    lead = LeadFactory()
    page = browser.post(
        reverse("leads:tags", args=[lead.pk]), {"tag": typed}, HTTP_HX_REQUEST="true"
    )
    assert page.status_code == 422
    assert message in page.text
    assert not Tag.objects.exists()
    assert not AuditEvent.objects.filter(action="lead.tag").exists()


def test_tag_names_are_escaped_on_the_page_board_and_list(browser):
    lead = LeadFactory(first_name="Esc")
    tags.lead_tag(lead_id=lead.pk, name="<script>x</script>", actor=None)
    for url in (
        reverse("leads:detail", args=[lead.pk]),
        reverse("leads:board"),
        reverse("leads:list"),
    ):
        html = browser.get(url).text
        assert "<script>x</script>" not in html, url
        assert "&lt;script&gt;x&lt;/script&gt;" in html, url


def test_a_rep_cannot_tag_a_lead_they_cannot_see():
    rep = UserFactory(username="tag-rep", role=Role.SALES_REP)
    lead = LeadFactory()  # nobody's: not the rep's
    client = Client()
    client.force_login(rep)
    assert client.post(reverse("leads:tags", args=[lead.pk]), {"tag": "mine"}).status_code == 404
    assert not Tag.objects.exists()


def test_board_list_and_api_filter_by_tag_in_any_case(browser, marketer, make_api_key):
    tagged, untagged = LeadFactory(first_name="Tagged"), LeadFactory(first_name="Plain")
    tags.lead_tag(lead_id=tagged.pk, name="Webinar", actor=None)
    board = browser.get(reverse("leads:board"), {"tag": "webinar"}).text
    assert f'id="lead-{tagged.pk}"' in board
    assert f'id="lead-{untagged.pk}"' not in board
    listed = browser.get(reverse("leads:list"), {"tag": "WEBINAR"}).context["rows"]
    assert [lead.pk for lead in listed] == [tagged.pk]
    secret, _ = make_api_key("leads:read", user=marketer)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    body = api.get("/api/v1/leads/", {"tag": "webinar"}).json()
    assert [row["id"] for row in body["results"]] == [tagged.pk]
    assert body["results"][0]["tags"] == ["Webinar"]
    assert api.get("/api/v1/leads/", {"tag": "nope"}).json()["results"] == []
    assert api.get("/api/v1/leads/", {"tag": "x" * 51}).status_code == 400


def test_api_adds_and_removes_tags_all_or_nothing(marketer, make_api_key):
    lead = LeadFactory()
    tags.lead_tag(lead_id=lead.pk, name="cold", actor=None)
    secret, _ = make_api_key("leads:write", "leads:read", user=marketer)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    url = f"/api/v1/leads/{lead.pk}/tags/"
    ok = api.post(url, {"add": ["Hot", "partner"], "remove": ["COLD"]}, format="json")
    assert ok.status_code == 200, ok.content
    assert ok.json()["tags"] == ["Hot", "partner"]
    bad = api.post(url, {"add": ["fine", "bad\x00name"]}, format="json")
    assert bad.status_code == 400
    assert "add" in str(bad.json())
    assert names(lead) == ["Hot", "partner"]  # "fine" was not added either
    assert api.post(url, {}, format="json").status_code == 400
    assert api.post(url, {"colour": "red"}, format="json").status_code == 400  # unknown field
    reader, _ = make_api_key("leads:read", user=marketer)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert api.post(url, {"add": ["x"]}, format="json").status_code == 403


def _bulk(actor, ids, **data):
    return bulk_services.bulk_submit(
        actor=actor, action_code="tag", data=data, token=uuid.uuid4(), lead_ids=ids
    )


def test_bulk_tag_and_untag_report_each_lead(marketer):
    leads = [LeadFactory() for _ in range(3)]
    tags.lead_tag(lead_id=leads[0].pk, name="q3", actor=None)
    job = _bulk(marketer, [lead.pk for lead in leads], tag_name="Q3", tag_op="add")
    results = dict(job.outcomes.values_list("lead_id", "result"))
    assert results == {
        leads[0].pk: BulkOutcome.Result.UNCHANGED,
        leads[1].pk: BulkOutcome.Result.APPLIED,
        leads[2].pk: BulkOutcome.Result.APPLIED,
    }
    assert all(names(lead) == ["q3"] for lead in leads)
    _bulk(marketer, [leads[0].pk, leads[1].pk], tag_name="q3", tag_op="remove")
    assert [names(lead) for lead in leads] == [[], [], ["q3"]]
    with pytest.raises(ValidationError) as err:
        _bulk(marketer, [leads[2].pk], tag_name="never-made", tag_op="remove")
    assert "tag_name" in err.value.message_dict


def test_merge_keeps_the_tags_of_both_and_the_export_lists_them():
    keep, drop = LeadFactory(), LeadFactory()
    tags.lead_tag(lead_id=keep.pk, name="a", actor=None)
    tags.lead_tag(lead_id=drop.pk, name="a", actor=None)
    tags.lead_tag(lead_id=drop.pk, name="b", actor=None)
    lead_merge(survivor_id=keep.pk, duplicate_id=drop.pk, actor=None)
    assert names(keep) == ["a", "b"]
    assert lead_export(lead_id=keep.pk, actor=None)["tags"] == ["a", "b"]


def test_settings_rename_keeps_the_leads_and_delete_takes_the_tag_off_them(browser):
    lead = LeadFactory()
    tags.lead_tag(lead_id=lead.pk, name="fair", actor=None)
    tag = Tag.objects.get()
    listing = browser.get(reverse("configure:tags")).text
    assert "fair" in listing
    edit = browser.post(
        reverse("configure:tags_edit", args=[tag.pk]), {"name": "Trade fair", "colour": "red"}
    )
    assert edit.status_code == 302
    assert names(lead) == ["Trade fair"]
    duplicate = browser.post(reverse("configure:tags_new"), {"name": "TRADE FAIR", "colour": "red"})
    assert duplicate.status_code == 422
    assert "There is a tag of this name already" in duplicate.text
    browser.post(reverse("configure:tags_delete", args=[tag.pk]))
    assert names(lead) == []
    assert AuditEvent.objects.filter(action="settings.delete", target_id=str(tag.pk)).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="parallel writers: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_eight_people_making_the_same_new_tag_at_once_make_one_tag():
    leads = [LeadFactory() for _ in range(8)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def tag(lead_id: int) -> None:
        try:
            barrier.wait()
            tags.lead_tag(lead_id=lead_id, name="Launch", actor=None)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            connection.close()  # this thread's own

    threads = [threading.Thread(target=tag, args=(lead.pk,)) for lead in leads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Tag.objects.count() == 1
    assert Lead.tags.through.objects.count() == 8

"""The channel grouping and a lead's touches over the REST API: the rules are saved as the
Settings page saves them (validated, audited), and the touches carry the channel the rules give
them when read."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from attribution.models import ChannelRule
from attribution.services import rebuild
from leadflow.models import AuditEvent
from leads.lifecycle import Stage
from leads.models import Activity, ActivityKind
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

RULES = "/api/v1/channel-rules/"
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _touches(client, lead):
    return client.get(f"/api/v1/leads/{lead.pk}/touches/")


@pytest.fixture
def partner_lead(rep):
    """A lead of the rep's from a partner's link, who later clicked a newsletter."""
    lead = LeadFactory(
        stage=Stage.LEAD, owner=rep, utm_source="partner-x", utm_medium="referral",
        utm_campaign="", stage_changed_at=T0,
    )  # fmt: skip
    Activity.objects.create(
        lead=lead, kind=ActivityKind.EMAIL_CLICK, occurred_at=T0 + timedelta(days=3),
        properties={"campaign": "march-news"},
    )  # fmt: skip
    rebuild()
    return lead


def test_the_rules_list_in_the_order_they_are_tried(marketer):
    listed = _api(marketer).get(RULES)
    assert listed.status_code == 200, listed.content
    rows = listed.json()["results"]
    held = list(ChannelRule.objects.order_by("position", "id").values_list("id", flat=True))
    assert [r["id"] for r in rows] == held[: len(rows)]
    assert rows[0]["channel"] == "Direct"  # the seeded defaults (migration 0002)
    reordered = _api(marketer).get(RULES, {"ordering": "-id"}).json()["results"]
    assert [r["id"] for r in reordered] == [r["id"] for r in rows]  # the order is the meaning


def test_a_new_rule_regroups_the_touches_at_once_and_is_audited(marketer, rep, partner_lead):
    before = {t["kind"]: t["channel"] for t in _touches(_api(rep), partner_lead).json()["results"]}
    assert before == {"created": "Referral", "email": "Email"}
    api = _api(marketer)
    made = api.post(
        RULES,
        {"position": 0, "channel": "Partners", "source_pattern": r"^partner-"},
        format="json",
    )
    assert made.status_code == 201, made.content
    rule = ChannelRule.objects.get(pk=made.json()["id"])
    assert (rule.channel, rule.source_pattern, rule.active) == ("Partners", "^partner-", True)
    assert AuditEvent.objects.filter(
        action="settings.create", target_type="attribution.channelrule", target_id=str(rule.pk)
    ).exists()
    assert api.get(RULES).json()["results"][0]["channel"] == "Partners"  # position 0: first

    touches = _touches(_api(rep), partner_lead).json()["results"]
    assert [(t["kind"], t["channel"]) for t in touches] == [
        ("created", "Partners"),  # oldest first
        ("email", "Email"),
    ]
    assert touches[0]["source"] == "partner-x"
    assert touches[1]["activity_id"] == Activity.objects.get(lead=partner_lead).pk

    off = api.patch(f"{RULES}{rule.pk}/", {"active": False}, format="json")
    assert off.status_code == 200, off.content
    assert _touches(_api(rep), partner_lead).json()["results"][0]["channel"] == "Referral"
    gone = api.delete(f"{RULES}{rule.pk}/")
    assert gone.status_code == 204
    assert not ChannelRule.objects.filter(pk=rule.pk).exists()
    assert AuditEvent.objects.filter(action="settings.delete", target_id=str(rule.pk)).exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"channel": "X", "source_pattern": "(unclosed"},
            "source_pattern",
            "Not a regular expression",
        ),
        (
            {"channel": "X", "campaign_pattern": "[a-"},
            "campaign_pattern",
            "Not a regular expression",
        ),
        ({"source_pattern": "x"}, "channel", "required"),
        ({"channel": "X", "position": -1}, "position", "greater than or equal to 0"),
        ({"channel": "X" * 61}, "channel", "no more than 60"),
        ({"channel": "X", "active": "maybe"}, "active", "valid boolean"),
    ],
)
def test_a_bad_rule_is_a_400_naming_the_field_and_nothing_is_saved(marketer, body, field, message):
    held = ChannelRule.objects.count()
    response = _api(marketer).post(RULES, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert message in " ".join(error["fields"][field])
    assert ChannelRule.objects.count() == held
    assert not AuditEvent.objects.filter(action="settings.create").exists()


def test_a_bad_edit_changes_nothing(marketer):
    rule = ChannelRule.objects.order_by("position").first()
    response = _api(marketer).patch(
        f"{RULES}{rule.pk}/", {"channel": "Renamed", "medium_pattern": "(("}, format="json"
    )
    assert response.status_code == 400
    assert "medium_pattern" in response.json()["error"]["fields"]
    rule.refresh_from_db()
    assert rule.channel == "Direct"


def test_reps_neither_read_nor_change_the_rules(rep):
    api = _api(rep)
    assert api.get(RULES).status_code == 403
    refused = api.post(RULES, {"channel": "Mine"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert not ChannelRule.objects.filter(channel="Mine").exists()


def test_a_key_needs_reports_write_to_change_the_rules(make_api_key, marketer):
    from tests.leadflow.test_apikeys import bearer

    secret, _ = make_api_key("reports:read", user=marketer)
    client = bearer(secret)
    assert client.get(RULES).status_code == 200
    refused = client.post(RULES, {"channel": "Partners"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    secret, _ = make_api_key("reports:write", user=marketer)
    assert bearer(secret).post(RULES, {"channel": "Partners"}, format="json").status_code == 201


def test_touches_of_a_lead_the_caller_may_not_see_are_a_404(partner_lead, db):
    from leadflow.roles import Role
    from tests.leads.factories import UserFactory

    other = UserFactory(username="other-rep", role=Role.SALES_REP)
    response = _touches(_api(other), partner_lead)
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "lead"
    assert _api(other).get("/api/v1/leads/99999999999999999999/touches/").status_code == 404


def test_touches_page_oldest_first(rep):
    lead = LeadFactory(stage=Stage.LEAD, owner=rep, utm_source="google", stage_changed_at=T0)
    for day in range(1, 6):
        Activity.objects.create(
            lead=lead, kind=ActivityKind.EMAIL_CLICK, occurred_at=T0 + timedelta(days=day),
            properties={"campaign": f"nl-{day}"},
        )  # fmt: skip
    rebuild()
    api = _api(rep)
    first = api.get(f"/api/v1/leads/{lead.pk}/touches/", {"page_size": 4}).json()
    second = api.get(first["next"]).json()
    seen = [t["campaign"] for t in first["results"] + second["results"]]
    assert seen == ["", "nl-1", "nl-2", "nl-3", "nl-4", "nl-5"]
    assert second["next"] is None

"""The REST API: decisions (403/409/400 paths), inbox, notifications, settings, webhooks."""

import pytest
from rest_framework.test import APIClient

from handover.models import Handover, Notification, SlaPolicy, WebhookSubscription
from leadflow.roles import Role
from tests.handover.factories import calendar, framework, policy, rule
from tests.leads.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def handover(reps, team, make_mql):
    rule("rr", team=team, members=reps[:1])
    policy(stage="mql", target=480, warn=60)
    return Handover.objects.get(lead=make_mql())


def test_inbox_accept_and_second_accept_is_409(client_for, handover, reps, manager):
    rep = client_for(reps[0])
    inbox = rep.get("/api/v1/handovers/inbox/").json()["results"]
    assert [h["id"] for h in inbox] == [handover.pk]
    ok = rep.post(f"/api/v1/handovers/{handover.pk}/accept/")
    assert ok.status_code == 200, ok.json()
    assert (ok.json()["status"], ok.json()["lead_stage"]) == ("accepted", "sal")
    again = client_for(manager).post(f"/api/v1/handovers/{handover.pk}/accept/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "handover_already_decided"


def test_reject_needs_a_reason_and_non_owner_gets_403(client_for, handover, reps, marketer):
    rep = client_for(reps[0])
    missing = rep.post(f"/api/v1/handovers/{handover.pk}/reject/", {}, format="json")
    assert missing.status_code == 400
    assert "reason" in missing.json()["error"]["fields"]
    unknown = rep.post(f"/api/v1/handovers/{handover.pk}/reject/", {"reason": "meh"}, format="json")
    assert unknown.status_code == 400
    assert "reason" in unknown.json()["error"]["fields"]
    other = client_for(reps[1]).post(
        f"/api/v1/handovers/{handover.pk}/reject/", {"reason": "duplicate"}
    )
    assert other.status_code in (403, 404)  # not visible to reps outside the lead's team → 404
    assert client_for(marketer).post(f"/api/v1/handovers/{handover.pk}/accept/").status_code == 403
    done = rep.post(
        f"/api/v1/handovers/{handover.pk}/reject/",
        {"reason": "no_budget", "comment": "Q3"},
        format="json",
    )
    assert done.status_code == 200
    assert done.json()["reason_code"] == "no_budget"
    handover.refresh_from_db()
    assert handover.status == "rejected"


def test_manager_reassigns_and_rep_cannot(client_for, handover, reps, manager):
    assert (
        client_for(reps[0])
        .post(f"/api/v1/handovers/{handover.pk}/reassign/", {"owner": reps[1].pk})
        .status_code
        == 403
    )
    ok = client_for(manager).post(
        f"/api/v1/handovers/{handover.pk}/reassign/", {"owner": reps[1].pk}
    )
    assert ok.status_code == 200, ok.json()
    assert ok.json()["owner"] == reps[1].pk


def test_notifications_unread_count_and_mark_read(client_for, handover, reps):
    rep = client_for(reps[0])
    assert rep.get("/api/v1/notifications/unread-count/").json() == {"unread": 1}
    rows = rep.get("/api/v1/notifications/").json()["results"]
    assert rows[0]["kind"] == "handover.assigned"
    assert rep.post("/api/v1/notifications/mark-read/", {}, format="json").json() == {"marked": 1}
    assert rep.get("/api/v1/notifications/unread-count/").json() == {"unread": 0}
    assert Notification.objects.filter(read_at__isnull=True).count() == 0


def test_checklist_api_gates_sql(client_for, handover, reps):
    rep = client_for(reps[0])
    rep.post(f"/api/v1/handovers/{handover.pk}/accept/")
    blocked = rep.post(f"/api/v1/leads/{handover.lead_id}/transition/", {"to": "sql"})
    assert blocked.status_code == 409
    assert blocked.json()["error"]["code"] == "qualification_required"
    fw = framework()
    bad = rep.post(
        "/api/v1/handover/checklists/",
        {"lead": handover.lead_id, "framework": fw.code, "answers": {"money": {"met": True}}},
        format="json",
    )
    assert bad.status_code == 400
    answers = {k: {"met": True} for k in ("budget", "authority", "need")}
    saved = rep.post(
        "/api/v1/handover/checklists/",
        {"lead": handover.lead_id, "framework": fw.code, "answers": answers},
        format="json",
    )
    assert saved.status_code == 200, saved.json()
    assert saved.json()["passed"] is True
    assert (
        rep.post(f"/api/v1/leads/{handover.lead_id}/transition/", {"to": "sql"}).status_code == 200
    )


def test_invalid_calendar_and_policy_are_400_naming_the_field(client_for, manager, reps):
    api = client_for(manager)
    bad_tz = api.post(
        "/api/v1/handover/calendars/",
        {"name": "x", "time_zone": "Nowhere/City", "working_hours": {"mon": [["09:00", "17:00"]]}},
        format="json",
    )
    assert bad_tz.status_code == 400
    assert "time_zone" in bad_tz.json()["error"]["fields"]
    cal = calendar()
    SlaPolicy.objects.filter(stage="sql").update(active=False)  # one active policy per stage
    before = SlaPolicy.objects.count()
    bad_ladder = api.post(
        "/api/v1/handover/sla-policies/",
        {
            "name": "p",
            "stage": "sql",
            "calendar": cal.pk,
            "target_minutes": 60,
            "warn_before_minutes": 90,
            "escalation": [
                {"after_minutes": 0, "action": "reassign"},
                {"after_minutes": 1, "action": "remind_owner"},
            ],
        },
        format="json",
    )
    assert bad_ladder.status_code == 400
    assert "escalation" in bad_ladder.json()["error"]["fields"]
    bad_warn = api.post(
        "/api/v1/handover/sla-policies/",
        {
            "name": "p",
            "stage": "sql",
            "calendar": cal.pk,
            "target_minutes": 60,
            "warn_before_minutes": 90,
        },
        format="json",
    )
    assert bad_warn.status_code == 400
    assert "warn_before_minutes" in bad_warn.json()["error"]["fields"]
    assert SlaPolicy.objects.count() == before
    assert (
        client_for(reps[0])
        .post("/api/v1/handover/calendars/", {"name": "y"}, format="json")
        .status_code
        == 403
    )


def test_webhook_subscriptions_refuse_private_targets_and_need_admin(client_for, manager, settings):
    admin = UserFactory(username="admin", role=Role.ADMIN)
    assert client_for(manager).get("/api/v1/webhooks/subscriptions/").status_code == 403
    api = client_for(admin)
    refused = api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": "http://169.254.169.254/latest", "event_types": ["lead.mql"]},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "url"
    assert "link-local" in refused.json()["error"]["message"]
    bad_type = api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": "http://127.0.0.1/", "event_types": ["lead.won"]},
        format="json",
    )
    assert bad_type.status_code == 400
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    ok = api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": "http://127.0.0.1:8081/h", "event_types": ["lead.mql"]},
        format="json",
    )
    assert ok.status_code == 201, ok.json()
    assert len(ok.json()["secret"]) > 20
    assert WebhookSubscription.objects.count() == 1
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = False  # a cloud metadata address in 100.64.0.0/10:
    shared = api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": "http://100.100.100.200/latest/meta-data", "event_types": ["lead.mql"]},
        format="json",
    )
    assert shared.status_code == 400
    assert shared.json()["error"]["field"] == "url"
    assert "not globally routable" in shared.json()["error"]["message"]


def test_the_secret_is_shown_once_on_create_and_never_read_back(client_for, settings):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    api = client_for(UserFactory(username="admin", role=Role.ADMIN))
    created = api.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": "http://127.0.0.1:8501/h", "event_types": ["lead.mql"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    secret = created.json()["secret"]
    assert secret == WebhookSubscription.objects.get().secret
    assert secret.startswith("whsec_")
    pk = created.json()["id"]
    url = f"/api/v1/webhooks/subscriptions/{pk}/"
    reads = [
        api.get("/api/v1/webhooks/subscriptions/").json()["results"][0],
        api.get(url).json(),
        api.patch(url, {"description": "CRM sync"}, format="json").json(),
    ]
    for body in reads:
        assert "secret" not in body, body
        assert body["secret_hint"] == f"whsec_…{secret[-4:]}"
        assert secret[6:-4] not in str(body)
    schema = api.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert "secret" not in schema["WebhookSubscription"]["properties"]


def test_the_admin_shows_the_secret_once_after_adding(client, settings):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    added = client.post(
        "/admin/handover/webhooksubscription/add/",
        {"url": "https://hooks.example.com/h", "event_types": '["lead.mql"]', "active": "on"},
        follow=True,
    )
    assert added.status_code == 200
    sub = WebhookSubscription.objects.get()
    assert sub.secret in added.content.decode()  # the message after the add
    change = client.get(f"/admin/handover/webhooksubscription/{sub.pk}/change/").content.decode()
    assert sub.secret not in change
    assert f"whsec_…{sub.secret[-4:]}" in change


def test_rejections_by_source_and_marking_an_sla_met(client_for, handover, reps, manager, make_mql):
    rep = client_for(reps[0])
    rep.post(f"/api/v1/handovers/{handover.pk}/reject/", {"reason": "no_budget"}, format="json")
    second = Handover.objects.get(lead=make_mql(source="webinar"))
    rep.post(f"/api/v1/handovers/{second.pk}/reject/", {"reason": "competitor"}, format="json")
    rows = client_for(manager).get("/api/v1/handovers/rejections/").json()
    assert {(r["lead_source"], r["reason_code"], r["count"]) for r in rows} == {
        ("organic_search", "no_budget", 1),
        ("webinar", "competitor", 1),
    }
    third = Handover.objects.get(lead=make_mql())
    timer = third.timers.get()
    assert client_for(reps[1]).post(f"/api/v1/handover/sla-timers/{timer.pk}/met/").status_code in (
        403,
        404,
    )
    ok = rep.post(f"/api/v1/handover/sla-timers/{timer.pk}/met/")
    assert ok.status_code == 200, ok.json()
    assert (ok.json()["state"], ok.json()["met_on_time"]) == ("met", True)
    assert rep.post(f"/api/v1/handover/sla-timers/{timer.pk}/met/").status_code == 409


def test_out_of_office_is_self_service_and_rules_are_managed_by_managers(
    client_for, reps, manager, team
):
    rep = client_for(reps[0])
    mine = rep.post(
        "/api/v1/handover/out-of-office/",
        {"starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-12-10T00:00:00Z", "note": "holiday"},
        format="json",
    )
    assert mine.status_code == 201, mine.json()
    assert mine.json()["user"] == reps[0].pk
    theirs = rep.post(
        "/api/v1/handover/out-of-office/",
        {
            "user": reps[1].pk,
            "starts_at": "2026-12-01T00:00:00Z",
            "ends_at": "2026-12-10T00:00:00Z",
        },
        format="json",
    )
    assert theirs.status_code == 403
    backwards = rep.post(
        "/api/v1/handover/out-of-office/",
        {"starts_at": "2026-12-10T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"},
        format="json",
    )
    assert backwards.status_code == 400
    assert len(client_for(reps[1]).get("/api/v1/handover/out-of-office/").json()["results"]) == 0
    assert (
        rep.post("/api/v1/handover/assignment-rules/", {"name": "x"}, format="json").status_code
        == 403
    )
    created = client_for(manager).post(
        "/api/v1/handover/assignment-rules/",
        {
            "name": "EMEA",
            "countries": ["de", "fr"],
            "team": team.pk,
            "capacity": 5,
            "capacity_period": "week",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["countries"] == ["DE", "FR"]
    bad = client_for(manager).post(
        "/api/v1/handover/assignment-rules/", {"name": "bad", "countries": "DE"}, format="json"
    )
    assert bad.status_code == 400
    assert "countries" in bad.json()["error"]["fields"]

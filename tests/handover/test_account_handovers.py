"""Marketing-qualified accounts (issue 18 item 5): the MQA threshold opens an account handover
with an SLA deadline, notifications and webhooks; it re-arms only after the score falls below
the threshold; the owner, a manager of the team or an admin decides it; the SLA scan warns
and breaches once; a merge keeps the MQA history; new members are announced to webhooks."""

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from companies import services as company_services
from companies.models import Account, BuyingRole, Membership
from handover import account_handovers
from handover.models import AccountHandover, Notification, WebhookEvent, WebhookSubscription
from handover.services import HandoverAlreadyDecidedError, NotHandoverOwnerError
from leadflow.roles import Role
from leads.models import Lead
from scoring import services as scoring_services
from scoring.models import AccountScore
from tests.handover.factories import policy
from tests.leads.factories import LeadFactory, UserFactory
from tests.scoring.factories import make_model


def account_rule(field: str, op: str, value: Any, points: int) -> dict[str, Any]:
    return {"kind": "account_fit", "field": field, "op": op, "value": value, "points": points}


@pytest.fixture
def mqa_model(db):
    """Tier 1 gives 50 fit; MQA at 80; each engaged member 10 (engaged from 10)."""
    return make_model(
        [account_rule("tier", "in", ["1"], 50)],
        account_mqa_threshold=80,
        account_member_points=10,
        account_engagement_cap=0,
        account_role_points=0,
    )


@pytest.fixture
def owned(db, reps, team):
    return company_services.account_create(
        data={"name": "Acme", "tier": "1", "owner": reps[0].pk, "team": team.pk}, actor=None
    )


def _member(account: Account, engagement: int, source: str = "webinar") -> Lead:
    lead = LeadFactory(email=f"p{Lead.objects.count()}@people-{account.pk}.example", source=source)
    Lead.objects.filter(pk=lead.pk).update(engagement_score=engagement)
    company_services.member_link(lead_id=lead.pk, account_id=account.pk, source="explicit")
    company_services.member_set_role(lead_id=lead.pk, role=BuyingRole.CHAMPION, actor=None)
    return lead


def _set_engagement(lead: Lead, engagement: int) -> None:
    Lead.objects.filter(pk=lead.pk).update(engagement_score=engagement)
    current = Membership.objects.get(lead=lead, ended_at__isnull=True)
    company_services.accounts_mark([current.account_id])


def _sweep() -> None:
    scoring_services.account_scores_sweep()


def test_crossing_the_threshold_opens_one_handover_with_a_deadline_and_tells_the_owner(
    mqa_model, owned, reps, django_capture_on_commit_callbacks
):
    policy(stage="mql", target=60, warn=10)
    WebhookSubscription.objects.create(url="https://example.com/h", event_types=["account.mqa"])
    a, b = _member(owned, 20, source="webinar"), _member(owned, 15, source="ads")
    before = timezone.now()
    _sweep()  # fit 50 + 2 engaged × 10 = 70 < 80: nothing
    assert not AccountHandover.objects.exists()
    _member(owned, 12)
    _sweep()  # 80: MQA
    handover = AccountHandover.objects.get()
    assert (handover.owner_id, handover.status, handover.score) == (
        reps[0].pk,
        AccountHandover.Status.OPEN,
        80,
    )
    assert (handover.tier, handover.source) == ("1", "webinar")  # the most engaged member's
    assert handover.due_at is not None
    assert handover.due_at - before >= timedelta(minutes=60)
    assert handover.warn_at == handover.due_at - timedelta(minutes=10)
    note = Notification.objects.get(kind="account.mqa")
    assert note.recipient_id == reps[0].pk
    assert f"/companies/{owned.pk}/" in note.link
    assert "Acme" in note.title
    event = WebhookEvent.objects.get(type="account.mqa")
    assert event.payload["data"]["account"]["id"] == owned.pk
    assert event.payload["data"]["handover"]["score"] == 80
    assert not AccountScore.objects.get(pk=owned.pk).mqa_armed
    # still above: another change does not open a second one
    _set_engagement(a, 30)
    _sweep()
    assert AccountHandover.objects.count() == 1
    del b


def test_mqa_rearms_only_after_the_score_fell_below(mqa_model, owned, reps):
    leads = [_member(owned, 20) for _ in range(3)]
    _sweep()
    first = AccountHandover.objects.get()
    account_handovers.handover_accept(handover_id=first.pk, actor=reps[0])
    _set_engagement(leads[0], 25)  # a change, still ≥ 80: no new MQA
    _sweep()
    assert AccountHandover.objects.count() == 1
    _set_engagement(leads[0], 0)  # 70: below, re-armed
    _sweep()
    assert AccountScore.objects.get(pk=owned.pk).mqa_armed
    assert AccountHandover.objects.count() == 1
    _set_engagement(leads[0], 20)  # 80 again: a second MQA
    _sweep()
    assert AccountHandover.objects.count() == 2
    assert AccountHandover.objects.filter(status="open").count() == 1


def test_owner_manager_and_others_deciding(mqa_model, owned, reps, manager):
    for _ in range(3):
        _member(owned, 20)
    _sweep()
    handover = AccountHandover.objects.get()
    with pytest.raises(NotHandoverOwnerError):
        account_handovers.handover_accept(handover_id=handover.pk, actor=reps[1])
    outsider = UserFactory(username="far", role=Role.SALES_MANAGER)
    with pytest.raises(NotHandoverOwnerError):
        account_handovers.handover_accept(handover_id=handover.pk, actor=outsider)
    with pytest.raises(ValidationError) as bad:
        account_handovers.handover_reject(
            handover_id=handover.pk, actor=manager, reason_code="nope"
        )
    assert "reason" in bad.value.message_dict
    with pytest.raises(ValidationError) as needs:
        account_handovers.handover_reject(
            handover_id=handover.pk, actor=manager, reason_code="other"
        )
    assert "comment" in needs.value.message_dict
    assert AccountHandover.objects.get().status == "open"  # nothing half-written
    done = account_handovers.handover_reject(
        handover_id=handover.pk, actor=manager, reason_code="no_budget", comment="FY27"
    )
    assert (done.status, done.decided_by_id, done.rejection_reason.code) == (
        "rejected",
        manager.pk,
        "no_budget",
    )
    with pytest.raises(HandoverAlreadyDecidedError):
        account_handovers.handover_accept(handover_id=handover.pk, actor=reps[0])


def test_unowned_account_goes_to_the_teams_manager_and_the_taker_owns_it(
    mqa_model, team, reps, manager
):
    account = company_services.account_create(
        data={"name": "Queue Co", "tier": "1", "team": team.pk}, actor=None
    )
    for _ in range(3):
        _member(account, 20)
    _sweep()
    handover = AccountHandover.objects.get()
    assert handover.owner_id is None
    assert Notification.objects.get(kind="account.mqa").recipient_id == manager.pk
    account_handovers.handover_accept(handover_id=handover.pk, actor=reps[2])  # from the queue
    account.refresh_from_db()
    assert account.owner_id == reps[2].pk
    assert AccountHandover.objects.get().owner_id == reps[2].pk


def test_sla_scan_warns_then_breaches_once_each(mqa_model, owned, reps, manager):
    policy(stage="mql", target=60, warn=10)
    WebhookSubscription.objects.create(
        url="https://example.com/h", event_types=["account.sla_breached"]
    )
    for _ in range(3):
        _member(owned, 20)
    _sweep()
    handover = AccountHandover.objects.get()
    assert account_handovers.sla_scan(now=handover.warn_at - timedelta(minutes=1)) == 0
    assert account_handovers.sla_scan(now=handover.warn_at + timedelta(minutes=1)) == 1
    assert account_handovers.sla_scan(now=handover.warn_at + timedelta(minutes=2)) == 0
    assert Notification.objects.filter(kind="account.sla_warning").count() == 1
    assert account_handovers.sla_scan(now=handover.due_at + timedelta(minutes=1)) == 1
    assert account_handovers.sla_scan(now=handover.due_at + timedelta(hours=5)) == 0
    breached = Notification.objects.filter(kind="account.sla_breached")
    assert sorted(breached.values_list("recipient_id", flat=True)) == sorted(
        [reps[0].pk, manager.pk]
    )
    assert WebhookEvent.objects.filter(type="account.sla_breached").count() == 1
    handover.refresh_from_db()
    assert handover.breached_at is not None
    assert handover.next_action_at is None


def test_a_decided_handover_is_not_scanned(mqa_model, owned, reps):
    policy(stage="mql", target=60, warn=10)
    for _ in range(3):
        _member(owned, 20)
    _sweep()
    handover = AccountHandover.objects.get()
    account_handovers.handover_accept(handover_id=handover.pk, actor=reps[0])
    assert account_handovers.sla_scan(now=handover.due_at + timedelta(minutes=1)) == 0


def test_merge_keeps_the_duplicates_mqa_history(mqa_model, owned, reps):
    for _ in range(3):
        _member(owned, 20)
    _sweep()
    other = company_services.account_create(data={"name": "Acme GmbH", "tier": "1"}, actor=None)
    for _ in range(3):
        _member(other, 20)
    _sweep()
    assert AccountHandover.objects.filter(status="open").count() == 2
    company_services.account_merge(
        survivor_id=owned.pk, duplicate_id=other.pk, keep_owner_of=owned.pk, actor=None
    )
    rows = list(AccountHandover.objects.order_by("pk").values_list("account_id", "status"))
    assert rows == [(owned.pk, "open"), (owned.pk, "cancelled")]


def test_new_members_are_announced_only_to_subscribers(db):
    account = company_services.account_create(
        data={"name": "Zeta", "domains": ["zeta.example"]}, actor=None
    )
    first = LeadFactory(email="a@zeta.example")
    assert company_services.members_match_by_domain(lead_ids=[first.pk]) == 1
    assert not WebhookEvent.objects.exists()  # nobody listens
    WebhookSubscription.objects.create(
        url="https://example.com/h", event_types=["account.member_added"]
    )
    lead = LeadFactory(email="b@zeta.example")
    other = LeadFactory(email="c@gmail.com")
    assert company_services.members_match_by_domain(lead_ids=[lead.pk, other.pk]) == 1
    company_services.member_link(lead_id=other.pk, account_id=account.pk, source="explicit")
    events = WebhookEvent.objects.filter(type="account.member_added").order_by("pk")
    got = [(e.payload["data"]["lead"]["id"], e.payload["data"]["source"]) for e in events]
    assert got == [(lead.pk, "domain"), (other.pk, "explicit")]
    assert events[0].payload["data"]["account"]["name"] == "Zeta"


# --- the account page, the list filter and the API ---------------------------------------------


@pytest.fixture
def mqa(mqa_model, owned):
    for _ in range(3):
        _member(owned, 20)
    _sweep()
    return AccountHandover.objects.get()


def test_the_account_page_offers_the_decision_to_the_owner_only(client, mqa, owned, reps):
    client.force_login(reps[1])
    page = client.get(f"/companies/{owned.pk}/")
    assert "Marketing-qualified" in page.content.decode()
    assert "Accept the account" not in page.content.decode()
    assert client.post(f"/handover/accounts/{mqa.pk}/accept/").status_code == 403
    client.force_login(reps[0])
    assert "Accept the account" in client.get(f"/companies/{owned.pk}/").content.decode()
    done = client.post(f"/handover/accounts/{mqa.pk}/reject/", {"reason": "other"}, follow=True)
    assert "needs a comment" in done.content.decode()
    assert AccountHandover.objects.get().status == "open"
    done = client.post(f"/handover/accounts/{mqa.pk}/accept/", follow=True)
    assert done.redirect_chain[-1][0] == f"/companies/{owned.pk}/"
    assert AccountHandover.objects.get().status == "accepted"
    assert "Not marketing-qualified now." in done.content.decode()


def test_the_list_filters_marketing_qualified_accounts(client, mqa, owned, reps):
    company_services.account_create(data={"name": "Quiet Ltd"}, actor=None)
    client.force_login(reps[0])
    names = client.get("/companies/?mqa=true").content.decode()
    assert "Acme" in names
    assert "Quiet Ltd" not in names
    others = client.get("/companies/?mqa=false").content.decode()
    assert "Quiet Ltd" in others
    assert ">Acme<" not in others


def test_api_lists_and_decides_account_handovers(mqa, owned, reps, manager):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(reps[1])
    assert api.post(f"/api/v1/account-handovers/{mqa.pk}/accept/").status_code == 403
    api.force_authenticate(manager)
    listed = api.get("/api/v1/account-handovers/", {"status": "open"}).json()
    assert [row["account"] for row in listed["results"]] == [owned.pk]
    bad = api.post(f"/api/v1/account-handovers/{mqa.pk}/reject/", {"reason": "nope"})
    assert bad.status_code == 400
    assert "reason" in str(bad.json())
    ok = api.post(
        f"/api/v1/account-handovers/{mqa.pk}/reject/", {"reason": "no_budget", "comment": "FY27"}
    )
    assert ok.status_code == 200, ok.content
    assert (ok.json()["status"], ok.json()["rejection_reason"]) == ("rejected", "no_budget")
    again = api.post(f"/api/v1/account-handovers/{mqa.pk}/accept/")
    assert again.status_code == 409


def test_the_inbox_lists_accounts_to_decide_for_owner_and_manager_not_others(
    client, mqa, owned, reps, manager
):
    for user, sees in ((reps[0], True), (manager, True), (reps[1], False)):
        client.force_login(user)
        page = client.get("/handover/inbox/").content.decode()
        assert ("Marketing-qualified accounts to decide" in page) is sees, user
        assert (f"/companies/{owned.pk}/#account-mqa" in page) is sees, user


@pytest.mark.django_db(transaction=True)
def test_ten_reps_take_the_same_queued_mqa_account_at_once_one_wins_rest_409():
    import threading

    from django.db import connection
    from rest_framework.test import APIClient

    from leads.models import Team

    make_model(
        [account_rule("tier", "in", ["1"], 50)],
        account_mqa_threshold=60,
        account_member_points=10,
        account_engagement_cap=0,
        account_role_points=0,
    )
    team = Team.objects.create(name="Race")
    racers = [UserFactory(username=f"racer{n}", role=Role.SALES_REP) for n in range(10)]
    team.members.add(*racers)
    account = company_services.account_create(
        data={"name": "Race AG", "tier": "1", "team": team.pk}, actor=None
    )
    _member(account, 20)
    _sweep()
    handover = AccountHandover.objects.get()
    assert handover.owner_id is None
    barrier = threading.Barrier(len(racers))
    results: dict[str, int] = {}

    def take(rep: Any) -> None:
        client = APIClient()
        client.force_authenticate(rep)
        barrier.wait()
        try:
            url = f"/api/v1/account-handovers/{handover.pk}/accept/"
            results[rep.username] = client.post(url).status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(rep,)) for rep in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [name for name, code in results.items() if code == 200]
    assert len(winners) == 1, results
    assert sorted(code for code in results.values() if code != 200) == [409] * 9
    handover.refresh_from_db()
    account.refresh_from_db()
    assert handover.owner.username == account.owner.username == winners[0]


def test_an_mqa_whose_handover_cannot_be_written_is_set_aside_and_the_others_qualify(
    mqa_model, team
):
    from leadflow import deadletter
    from leadflow.models import DeadLetter
    from tests.faults import db_fault

    accounts = [
        company_services.account_create(data={"name": f"Co {i}", "tier": "1"}, actor=None)
        for i in range(5)
    ]
    for account in accounts:
        for _ in range(3):
            _member(account, 20)
    bad = accounts[2]
    with db_fault(AccountHandover, "account_id", bad.pk, "injected: handover refused"):
        scoring_services.account_scores_sweep(batch_size=100)
        opened = set(AccountHandover.objects.values_list("account_id", flat=True))
        assert opened == {a.pk for a in accounts} - {bad.pk}
        letter = DeadLetter.objects.get()
        assert (letter.kind, letter.item_id) == ("scoring.account", bad.pk)
        # its score rolled back with its handover: the retry writes both
        assert not AccountScore.objects.filter(pk=bad.pk).exists()
    assert deadletter.retry(letter_id=letter.pk, manual=True) is True
    assert AccountHandover.objects.filter(account=bad).count() == 1

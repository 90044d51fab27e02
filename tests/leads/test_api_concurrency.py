"""Optimistic concurrency on stage moves: a caller says where it saw the lead
(``expected_stage``) and a stale call is 409 ``stale_lead`` naming who moved it and when."""

import threading

import pytest
import requests
from django.db import close_old_connections, connection
from rest_framework.test import APIClient

from handover.models import Handover
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, StageChange
from leads.services import lead_mark_mql
from tests.leads.factories import LeadFactory, UserFactory

WINNER_STAGE = {"accept": "sal", "recycle": "nurture", "disqualify": "disqualified"}


def _mql_with_open_handover(owner):
    lead = LeadFactory(stage=Stage.LEAD, owner=owner)
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
    Handover.objects.filter(lead=lead).update(owner=owner)
    return Lead.objects.get(pk=lead.pk), Handover.objects.get(lead=lead)


def _as(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def people(db):
    return (
        UserFactory(username="rita", first_name="Rita", role=Role.SALES_REP),
        UserFactory(username="mark", first_name="Mark", role=Role.MARKETER),
        UserFactory(username="mona", first_name="Mona", role=Role.SALES_MANAGER),
    )


@pytest.mark.django_db
def test_after_a_disqualify_a_stale_recycle_and_accept_are_409_naming_the_manager(people):
    rep, marketer, manager = people
    lead, handover = _mql_with_open_handover(rep)
    seen = {"expected_stage": "mql", "expected_changed_at": lead.stage_changed_at.isoformat()}

    dq = _as(manager).post(
        f"/api/v1/leads/{lead.pk}/disqualify/", {"reason": "competitor", **seen}, format="json"
    )
    assert dq.status_code == 200, dq.content
    recycle = _as(marketer).post(
        f"/api/v1/leads/{lead.pk}/recycle/", {"reason": "not ready", **seen}, format="json"
    )
    accept = _as(rep).post(f"/api/v1/handovers/{handover.pk}/accept/", seen, format="json")
    for response in (recycle, accept):
        assert response.status_code == 409, response.content
        error = response.json()["error"]
        assert error["code"] == "stale_lead"
        assert error["field"] == "expected_stage"
        assert error["stage"] == "disqualified"
        assert error["moved_by"] == str(manager)
        assert str(manager) in error["message"]
        assert error["moved_at"] == Lead.objects.get(pk=lead.pk).stage_changed_at.isoformat()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.DISQUALIFIED
    assert list(
        StageChange.objects.filter(lead=lead).values_list("to_stage", flat=True).order_by("id")
    ) == ["lead", "mql", "disqualified"]


@pytest.mark.django_db
def test_the_expectation_is_optional_and_checked_to_the_second(people):
    """Without ``expected_stage`` a move applies from wherever the lead is (as before); with a
    matching stage but an older ``expected_changed_at`` it is stale (the lead went and came
    back)."""
    _rep, marketer, manager = people
    lead = LeadFactory(stage=Stage.LEAD)
    first_seen = lead.stage_changed_at.isoformat()
    assert _as(marketer).post(f"/api/v1/leads/{lead.pk}/mark-mql/", {}).status_code == 200
    recycle = _as(manager).post(
        f"/api/v1/leads/{lead.pk}/transition/",
        {"to": "nurture", "reason": "x", "expected_stage": "mql"},
        format="json",
    )
    assert recycle.status_code == 200, recycle.content
    again = _as(marketer).post(
        f"/api/v1/leads/{lead.pk}/mark-mql/",
        {"expected_stage": "lead", "expected_changed_at": first_seen},
        format="json",
    )
    assert again.status_code == 409
    assert again.json()["error"]["moved_by"] == str(manager)
    bad = _as(marketer).post(
        f"/api/v1/leads/{lead.pk}/mark-mql/", {"expected_changed_at": first_seen}, format="json"
    )
    assert bad.status_code == 400
    assert "expected_changed_at" in bad.json()["error"]["fields"]
    unknown = _as(marketer).post(
        f"/api/v1/leads/{lead.pk}/mark-mql/", {"expected_stage": "won"}, format="json"
    )
    assert unknown.status_code == 400
    assert "expected_stage" in unknown.json()["error"]["fields"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_accept_recycle_and_disqualify_with_expectations_apply_exactly_one(
    live_server, make_api_key, people
):
    """Rep accept, marketer recycle and manager disqualify of one MQL, each from its own thread
    and API key, all saying they saw it in MQL: on every lead one applies, the other two are
    409 naming the winner; no lead is reopened."""
    rep, marketer, manager = people
    keys = {
        "accept": make_api_key("handover:write", user=rep)[0],
        "recycle": make_api_key("leads:write", user=marketer)[0],
        "disqualify": make_api_key("leads:write", user=manager)[0],
    }
    actors = {"accept": str(rep), "recycle": str(marketer), "disqualify": str(manager)}
    for _round in range(6):
        lead, handover = _mql_with_open_handover(rep)
        calls = {
            "accept": (f"/api/v1/handovers/{handover.pk}/accept/", {}),
            "recycle": (f"/api/v1/leads/{lead.pk}/recycle/", {"reason": "not ready"}),
            "disqualify": (f"/api/v1/leads/{lead.pk}/disqualify/", {"reason": "competitor"}),
        }
        barrier = threading.Barrier(len(calls))
        replies: dict[str, requests.Response] = {}

        def send(name, path, body, barrier=barrier, replies=replies):
            try:
                barrier.wait()
                replies[name] = requests.post(
                    f"{live_server.url}{path}",
                    json={**body, "expected_stage": "mql"},
                    headers={"Authorization": f"Bearer {keys[name]}"},
                    timeout=30,
                )
            finally:
                close_old_connections()
                connection.close()

        threads = [threading.Thread(target=send, args=(n, *c)) for n, c in calls.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        codes = {name: r.status_code for name, r in replies.items()}
        winners = [name for name, code in codes.items() if code == 200]
        assert len(winners) == 1, codes
        winner = winners[0]
        for name, reply in replies.items():
            if name != winner:
                assert reply.status_code == 409, (name, reply.content)
                error = reply.json()["error"]
                assert error["code"] == "stale_lead"
                assert error["moved_by"] == actors[winner]
        moves = StageChange.objects.filter(lead=lead).values_list("to_stage", flat=True)
        assert list(moves.order_by("id")) == ["lead", "mql", WINNER_STAGE[winner]]

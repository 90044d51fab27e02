"""A dry run includes accounts (issue 18 item 5): under the draft, how many account scores
change, how many accounts would become MQA, how many MQA-level ones fall below, grades and the
distribution before and after — with the members' engagement as the *draft* scores it.

The accounts of every test (defaults: engaged from 10, 5 points per engaged member, 10 per
role), the published model giving 10 points per webinar:

    A, tier 2: a1 (1 webinar, decision maker), a2 (1 webinar, champion)
               E1 20 + E2 10 + E3 20 = 50
    B, tier 2: the same                                  = 50
    C, tier 3: c1 (2 webinars, user): E1 20 + E2 5 + E3 10 = 35
    D, tier 2, no members                                =  0
"""

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from companies import services as company_services
from companies.models import Account, BuyingRole
from leads import services as lead_services
from leads.models import ActivityKind, Lead
from scoring import services
from scoring.models import AccountScore, DryRunAccount, ScoringModel, ScoringRun
from tests.leads.factories import LeadFactory
from tests.scoring.factories import activity_rule, make_model

pytestmark = pytest.mark.django_db


def _account(name: str, tier: str) -> Account:
    return company_services.account_create(data={"name": name, "tier": tier}, actor=None)


def _member(account: Account, role: str, webinars: int) -> Lead:
    lead = LeadFactory(email=f"p{Lead.objects.count()}@free-{account.pk}.example")
    company_services.member_link(lead_id=lead.pk, account_id=account.pk, source="explicit")
    company_services.member_set_role(lead_id=lead.pk, role=role, actor=None)
    for _ in range(webinars):
        lead_services.activity_record(
            lead_id=lead.pk,
            kind=ActivityKind.WEBINAR,
            occurred_at=timezone.now() - timedelta(minutes=1),
        )
    return lead


@pytest.fixture
def live() -> ScoringModel:
    tiers = {"A": "2", "B": "2", "C": "3", "D": "2"}
    accounts = {name: _account(name, tier) for name, tier in tiers.items()}
    model = make_model([activity_rule(ActivityKind.WEBINAR, 10)], account_mqa_threshold=60)
    for name in ("A", "B"):
        _member(accounts[name], BuyingRole.DECISION_MAKER, 1)
        _member(accounts[name], BuyingRole.CHAMPION, 1)
    _member(accounts["C"], BuyingRole.USER, 2)
    services.score_dirty_sweep()
    services.accounts_rescore_all(model=model)  # as the publish's run ends (D: no member)
    stored = dict(AccountScore.objects.values_list("account__name", "score"))
    assert stored == {"A": 50, "B": 50, "C": 35, "D": 0}
    return model


def _draft(live: ScoringModel, **settings: Any) -> ScoringModel:
    draft = services.model_new_version(model_id=live.pk)
    if settings:
        services.model_update(model_id=draft.pk, data=settings)
    return draft


def _dry_run(model: ScoringModel, batch_size: int = 1) -> dict[str, Any]:
    """The dry run, one lead per batch: an account's members fall in different batches."""
    run = services.run_start(model_id=model.pk, kind=ScoringRun.Kind.DRY_RUN)
    run = services.run_execute(run_id=run.pk, batch_size=batch_size)
    assert run.status == "done", run.error
    assert not DryRunAccount.objects.exists()  # the scratch totals are gone
    return dict(run.result["accounts"])


def test_a_draft_that_raises_account_fit_makes_two_accounts_mqa(live):
    draft = _draft(live)
    services.rule_create(
        model_id=draft.pk,
        data={"name": "tier 2", "kind": "account_fit", "field": "tier", "op": "in",
              "value": ["2"], "points": 20},
    )  # fmt: skip
    stored = list(AccountScore.objects.order_by("pk").values_list("score", "grade"))
    result = _dry_run(draft)
    # A and B: 50 -> 70 (≥ 60); D: 0 -> 20; C stays 35
    assert result == {
        "accounts": 4,
        "changed": 3,
        "enter_mqa": 2,
        "mqa_below_threshold": 0,
        "sum_before": 135,
        "sum_after": 195,
        "before": {"50-59": 2, "30-39": 1, "0-9": 1},
        "after": {"70-79": 2, "30-39": 1, "20-29": 1},
        "grades_before": {"D": 4},
        "grades_after": {"B": 3, "D": 1},
        "grade_moves": {"D": {"B": 3}},
    }
    assert list(AccountScore.objects.order_by("pk").values_list("score", "grade")) == stored


def test_a_draft_engagement_rule_moves_accounts_through_their_members(live):
    """The stored member engagement is the published model's: only the draft's own evaluation
    of the members' leads shows that 25 points a webinar lifts every account."""
    draft = _draft(live)
    services.rule_update(rule_id=draft.rules.get().pk, data={"points": 25})
    result = _dry_run(draft)
    # A, B: E1 50 + 10 + 20 = 80; C: c1 50: E1 50 + 5 + 10 = 65; D: 0
    assert (result["changed"], result["enter_mqa"]) == (3, 3)
    assert (result["sum_before"], result["sum_after"]) == (135, 225)
    assert result["after"] == {"80-89": 2, "60-69": 1, "0-9": 1}


def test_only_armed_accounts_become_mqa_and_mqa_level_ones_can_fall_below(live):
    draft = _draft(live)
    services.rule_update(rule_id=draft.rules.get().pk, data={"points": 25})
    # C reached MQA earlier and has not been below the threshold since: no new MQA
    AccountScore.objects.filter(account__name="C").update(mqa_armed=False)
    assert _dry_run(draft)["enter_mqa"] == 2

    services.model_publish(model_id=draft.pk)  # A, B 80, C 65 are MQA-level now
    raised = _draft(ScoringModel.objects.get(pk=draft.pk), account_mqa_threshold=70)
    result = _dry_run(raised, batch_size=100)
    assert (result["changed"], result["mqa_below_threshold"]) == (0, 1)  # C: 65 < 70


def test_a_draft_identical_to_the_published_model_changes_no_account(live):
    result = _dry_run(_draft(live))
    assert (result["changed"], result["mqa_below_threshold"]) == (0, 0)
    assert result["before"] == result["after"]
    assert result["grade_moves"] == {}


def test_without_a_published_model_before_is_the_stored_score(live):
    ScoringModel.objects.filter(pk=live.pk).update(status=ScoringModel.Status.ARCHIVED)
    AccountScore.objects.filter(account__name="D").delete()  # never scored
    result = _dry_run(_draft(live))
    assert result["sum_before"] == result["sum_after"] == 135
    assert result["changed"] == 0
    assert result["grades_before"] == {"D": 3, "-": 1}
    assert result["grade_moves"] == {"-": {"D": 1}}


def test_the_page_and_the_api_show_the_accounts(live, client, marketer):
    draft = _draft(live, account_mqa_threshold=45)
    run = services.run_start(model_id=draft.pk, kind=ScoringRun.Kind.DRY_RUN)
    services.run_execute(run_id=run.pk)
    client.force_login(marketer)
    body = client.get(f"/api/v1/scoring/runs/{run.pk}/").json()
    assert body["result"]["leads"] == 5
    assert body["result"]["accounts"]["enter_mqa"] == 2  # A and B: 50 ≥ 45
    page = client.get(reverse("scoring:run", args=[run.pk])).content.decode()
    assert 'id="dry-run-accounts"' in page
    assert '<dd id="enter-mqa">2</dd>' in page
    assert '<dd id="enter-mql">0</dd>' in page  # the leads' figures beside them

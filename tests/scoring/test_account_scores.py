"""Account scoring (issue 18 item 5): the formula, its caps, where marks come from, the sweep,
one bad account not stopping the others, and bulk = single = breakdown as a property.

The worked example (also the formula's documentation), with the model's defaults
(engaged from 10, engagement cap 60, 5 points per engaged member up to 5, 10 per role):

    Acme, tier 1; a rule "tier in [1]" gives +20 fit
    members: Ann 30 (decision maker), Bob 20 (champion), Cy 0 (user)
    engaged (≥ 10): Ann, Bob
    E1 member engagement = min(30 + 20 + 0, 60)   = 50
    E2 engaged members   = min(2, 5) × 5          = 10
    E3 engaged roles     = |{decision maker, champion}| × 10 = 20   (Cy's "user": not engaged)
    engagement = 80; fit = 20 (grade B: 15 ≤ 20 < 30); score = 100
"""

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from companies import services as company_services
from companies.models import Account, AccountRescoreMark, BuyingRole, Membership
from leadflow import deadletter
from leadflow.models import DeadLetter
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityKind, Lead
from scoring import account_engine, engine, services
from scoring import account_rules as ar
from scoring import rules as r
from scoring.models import AccountScore, ScoringModel
from scoring.selectors import account_breakdown, account_score_stored
from tests.faults import db_fault
from tests.leads.factories import LeadFactory
from tests.scoring.factories import activity_rule, fit_rule, make_model


def account_rule(field: str, op: str, value: Any, points: int) -> dict[str, Any]:
    return {"kind": "account_fit", "field": field, "op": op, "value": value, "points": points}


def _account(name: str = "Acme", **data: Any) -> Account:
    return company_services.account_create(data={"name": name, **data}, actor=None)


def _member(account: Account, engagement: int, role: str = BuyingRole.UNKNOWN) -> Lead:
    lead = LeadFactory(email=f"p{Lead.objects.count()}@free-{account.pk}.example")
    Lead.objects.filter(pk=lead.pk).update(engagement_score=engagement)
    company_services.member_link(lead_id=lead.pk, account_id=account.pk, source="explicit")
    company_services.member_set_role(lead_id=lead.pk, role=role, actor=None)
    return lead


# --- the formula ------------------------------------------------------------------------------


def test_the_worked_example_by_the_pure_function():
    tier_1 = r.RuleSpec(7, "tier 1", "account_fit", 20, field="tier", op="in", value=["1"])
    spec = ar.AccountSpec(rules=(tier_1,))
    members = [
        ar.Member(1, 30, "decision_maker"),
        ar.Member(2, 20, "champion"),
        ar.Member(3, 0, "user"),
    ]
    ev = ar.evaluate_account(spec, account={"tier": "1", "industry": ""}, members=members)
    assert (ev.fit, ev.engagement, ev.score, ev.grade) == (20, 80, 100, "B")
    assert ev.breakdown == {
        "rules": [[7, 20]],
        "engaged_members": 2,
        "engaged_roles": ["champion", "decision_maker"],
        "parts": {"member_engagement": 50, "engaged_members": 10, "roles": 20},
    }


@pytest.mark.django_db
def test_the_worked_example_stored_by_the_sweep_and_by_score_account():
    model = make_model([account_rule("tier", "in", ["1"], 20), activity_rule("webinar", 1)])
    acme = _account(tier="1")
    ann = _member(acme, 30, BuyingRole.DECISION_MAKER)
    bob = _member(acme, 20, BuyingRole.CHAMPION)
    _member(acme, 0, BuyingRole.USER)
    assert services.account_scores_sweep().scored == 1
    row = AccountScore.objects.get(pk=acme.pk)
    assert (row.fit_score, row.engagement_score, row.score, row.grade) == (20, 80, 100, "B")
    assert row.model_id == model.pk
    assert not row.mqa_armed  # 100 reached the default MQA threshold (80): MQA, disarmed
    assert "members" not in row.breakdown  # the totals only: members are read when shown
    assert row.breakdown["parts"] == {"member_engagement": 50, "engaged_members": 10, "roles": 20}
    again = services.score_account(account_id=acme.pk)
    assert again is not None
    assert (again.score, again.breakdown) == (100, row.breakdown)
    explained = account_breakdown(account_id=acme.pk)
    assert explained is not None
    assert explained["score"] == 100
    assert explained["rules"] == [{"rule_id": explained["rules"][0]["rule_id"],
                                   "name": "rule 0", "points": 20}]  # fmt: skip
    top = [{"lead_id": ann.pk, "engagement": 30}, {"lead_id": bob.pk, "engagement": 20}]
    assert explained["members"] == top  # engagement > 0, highest first
    stored = account_score_stored(account=acme)
    assert stored is not None
    assert stored["members"] == top


@pytest.mark.django_db
def test_caps_and_settings_of_the_model():
    make_model(
        [activity_rule("webinar", 1)],
        account_engagement_cap=40,
        account_member_cap=3,
        account_member_points=2,
        account_role_points=7,
        account_engaged_min=25,
    )
    acme = _account()
    roles = [BuyingRole.DECISION_MAKER, BuyingRole.CHAMPION, BuyingRole.INFLUENCER,
             BuyingRole.USER, BuyingRole.BLOCKER, BuyingRole.UNKNOWN]  # fmt: skip
    for i, role in enumerate(roles):
        _member(acme, 25 + i, role)
    _member(acme, 24, BuyingRole.USER)  # under engaged_min: counts in E1 only
    score = services.score_account(account_id=acme.pk)
    assert score is not None
    # E1 = min(25+…+30 + 24, 40) = 40; E2 = min(6, 3) × 2 = 6; E3 = 5 roles (not unknown) × 7
    assert score.breakdown["parts"] == {"member_engagement": 40, "engaged_members": 6, "roles": 35}
    assert (score.engagement_score, score.fit_score, score.grade) == (81, 0, "D")
    assert score.breakdown["engaged_members"] == 6


@pytest.mark.django_db
def test_roles_count_once_only_when_engaged_and_never_unknown():
    make_model([activity_rule("webinar", 1)])
    acme = _account()
    _member(acme, 50, BuyingRole.CHAMPION)
    _member(acme, 40, BuyingRole.CHAMPION)  # the same role again
    _member(acme, 30, BuyingRole.UNKNOWN)  # engaged, but no role
    _member(acme, 5, BuyingRole.DECISION_MAKER)  # a role, but not engaged
    score = services.score_account(account_id=acme.pk)
    assert score is not None
    assert score.breakdown["engaged_roles"] == ["champion"]
    assert score.breakdown["parts"]["roles"] == 10
    assert score.breakdown["engaged_members"] == 3


@pytest.mark.django_db
def test_a_past_member_no_longer_counts():
    make_model([activity_rule("webinar", 1)])
    acme, other = _account(), _account("Other")
    lead = _member(acme, 40, BuyingRole.CHAMPION)
    assert services.score_account(account_id=acme.pk).engagement_score == 40 + 5 + 10
    company_services.member_link(lead_id=lead.pk, account_id=other.pk, source="explicit")
    assert services.score_account(account_id=acme.pk).engagement_score == 0
    assert services.score_account(account_id=other.pk).engagement_score == 40 + 5  # role: rule's


# --- rules ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (account_rule("seniority", "in", ["vp"], 5), "field"),
        (account_rule("tier", "contains_any", ["1"], 5), "op"),
        (account_rule("tier", "free_mail", True, 5), "op"),
        (account_rule("industry", "in", [], 5), "value"),
        (account_rule("country", "is_empty", "yes", 5), "value"),
    ],
)
def test_a_bad_account_fit_rule_is_refused_naming_the_field(rule, field):
    model = make_model([], publish=False)
    with pytest.raises(ValidationError) as exc:
        services.rule_create(model_id=model.pk, data={"name": "bad", **rule})
    assert field in exc.value.message_dict
    assert not model.rules.exists()


@pytest.mark.django_db
def test_lead_scoring_ignores_account_fit_rules():
    model = make_model(
        [
            account_rule("industry", "in", ["software"], 50),
            account_rule("country", "is_empty", False, 10),
            activity_rule(ActivityKind.WEBINAR, 30),
        ]
    )
    assert len(engine.model_spec(model).rules) == 1
    assert len(engine.account_spec(model).rules) == 2
    lead = LeadFactory(industry="Software", country="DE", stage=Stage.LEAD)
    lead_services.activity_record(
        lead_id=lead.pk, kind=ActivityKind.WEBINAR, occurred_at=timezone.now()
    )
    services.score_dirty_sweep()
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score) == (0, 30)
    acme = _account(industry="Software", country="DE")
    assert services.score_account(account_id=acme.pk).fit_score == 60


@pytest.mark.django_db
def test_account_settings_are_versioned_validated_and_copied():
    model = make_model([activity_rule("webinar", 1)], publish=False, account_member_cap=9)
    with pytest.raises(ValidationError) as exc:
        services.model_update(model_id=model.pk, data={"account_role_points": -1})
    assert "account_role_points" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.model_update(model_id=model.pk, data={"account_mqa_threshold": "80"})
    assert "account_mqa_threshold" in exc.value.message_dict
    services.model_update(model_id=model.pk, data={"account_mqa_threshold": 70})
    services.rule_create(
        model_id=model.pk, data={"name": "t1", **account_rule("tier", "in", ["1"], 20)}
    )
    services.model_publish(model_id=model.pk)
    with pytest.raises(services.ModelNotDraftError):
        services.model_update(model_id=model.pk, data={"account_member_cap": 1})
    copy = services.model_new_version(model_id=model.pk)
    assert (copy.account_member_cap, copy.account_mqa_threshold) == (9, 70)
    assert copy.rules.filter(kind="account_fit", field="tier").exists()


@pytest.mark.django_db
def test_two_account_rules_counting_the_same_are_refused_but_a_lead_rule_alike_is_not():
    model = make_model([account_rule("industry", "in", ["software"], 5)], publish=False)
    services.rule_create(
        model_id=model.pk,
        data={"name": "lead", "kind": "fit", "field": "industry", "op": "in",
              "value": ["software"], "points": 5},
    )  # fmt: skip
    with pytest.raises(ValidationError):
        services.rule_create(
            model_id=model.pk, data={"name": "again", **account_rule("industry", "in",
                                                                     ["software"], 3)}
        )  # fmt: skip


# --- marks and the sweep ----------------------------------------------------------------------


def _marked() -> set[int]:
    return set(AccountRescoreMark.objects.values_list("account_id", flat=True))


@pytest.mark.django_db
def test_membership_and_fit_field_changes_mark_their_accounts():
    acme, other = _account(), _account("Other", domains=["other.example"])
    lead = LeadFactory(email="ann@elsewhere.example")
    AccountRescoreMark.objects.all().delete()
    company_services.member_link(lead_id=lead.pk, account_id=acme.pk, source="explicit")
    assert _marked() == {acme.pk}
    AccountRescoreMark.objects.all().delete()
    company_services.member_link(lead_id=lead.pk, account_id=other.pk, source="explicit")
    assert _marked() == {acme.pk, other.pk}  # the one left and the one joined
    AccountRescoreMark.objects.all().delete()
    company_services.member_set_role(lead_id=lead.pk, role=BuyingRole.CHAMPION, actor=None)
    assert _marked() == {other.pk}
    AccountRescoreMark.objects.all().delete()
    company_services.account_update(account_id=acme.pk, data={"name": "Acme Inc"}, actor=None)
    assert _marked() == set()  # the name scores nothing
    company_services.account_update(account_id=acme.pk, data={"tier": "2"}, actor=None)
    assert _marked() == {acme.pk}
    AccountRescoreMark.objects.all().delete()
    LeadFactory(email="bo@new.example")
    company_services.account_update(account_id=acme.pk, data={"domains": ["new.example"]},
                                     actor=None)  # fmt: skip
    assert _marked() == {acme.pk}  # matched by domain
    AccountRescoreMark.objects.all().delete()
    company_services.account_merge(
        survivor_id=other.pk, duplicate_id=acme.pk, keep_owner_of=other.pk, actor=None
    )
    assert _marked() == {other.pk}


@pytest.mark.django_db
def test_a_lead_new_score_reaches_its_account_through_the_sweep():
    make_model([activity_rule(ActivityKind.WEBINAR, 30)])
    acme = _account()
    lead = _member(acme, 0, BuyingRole.CHAMPION)
    loner = LeadFactory()
    services.account_scores_sweep()
    assert AccountScore.objects.get(pk=acme.pk).engagement_score == 0
    assert not _marked()
    for who in (lead, loner):
        lead_services.activity_record(
            lead_id=who.pk, kind=ActivityKind.WEBINAR, occurred_at=timezone.now()
        )
    services.score_dirty_sweep()
    assert _marked() == {acme.pk}  # one INSERT … SELECT for the batch's changed members
    result = services.account_scores_sweep()
    assert (result.scored, result.written) == (1, 1)
    # E1 30 + E2 5 (one engaged member) + E3 10 (champion)
    assert AccountScore.objects.get(pk=acme.pk).engagement_score == 45
    assert not _marked()
    assert services.account_scores_sweep().scored == 0


@pytest.mark.django_db
def test_only_a_member_engagement_change_marks_the_account():
    # An account reads its members' engagement and nothing else of their scores: a rescore that
    # changes only a member's fit writes the lead and marks no account (the accounts of every
    # written lead were marked before); an engagement change marks it, in the same transaction.
    make_model([activity_rule(ActivityKind.WEBINAR, 30), fit_rule("industry", "in", ["saas"], 7)])
    acme = _account()
    lead = _member(acme, 0)
    services.score_lead(lead_id=lead.pk)
    services.account_scores_sweep()
    assert not _marked()
    Lead.objects.filter(pk=lead.pk).update(industry="SaaS")
    services.score_lead(lead_id=lead.pk)
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score) == (7, 0)
    assert not _marked()  # fit alone
    lead_services.activity_record(
        lead_id=lead.pk, kind=ActivityKind.WEBINAR, occurred_at=timezone.now()
    )
    services.score_dirty_sweep()
    lead.refresh_from_db()
    assert lead.engagement_score == 30
    assert _marked() == {acme.pk}
    AccountRescoreMark.objects.all().delete()
    Lead.objects.filter(pk=lead.pk).update(industry="retail")  # fit again, by a full rescore
    model = services.published_model()
    assert model is not None
    written = engine.write_scores(
        model=model,
        spec=engine.model_spec(model),
        ids=engine.IdRange(lead.pk, lead.pk),
        now=timezone.now(),
    )
    assert written == 1
    assert not _marked()


@pytest.mark.django_db
def test_an_unchanged_account_is_not_written_again():
    make_model([activity_rule(ActivityKind.WEBINAR, 30)])
    acme = _account()
    _member(acme, 15)
    services.account_scores_sweep()
    before = AccountScore.objects.get(pk=acme.pk).scored_at
    company_services.accounts_mark([acme.pk])
    assert services.account_scores_sweep().written == 0
    assert AccountScore.objects.get(pk=acme.pk).scored_at == before


@pytest.mark.django_db
def test_a_rescore_run_marks_no_account_and_scores_every_one_once_its_leads_are_done(
    django_capture_on_commit_callbacks,
):
    accounts = [_account(f"A{i}") for i in range(3)]
    members = [_member(accounts[i], 0, BuyingRole.CHAMPION) for i in range(2)]
    for lead in members:
        lead_services.activity_record(
            lead_id=lead.pk, kind=ActivityKind.WEBINAR, occurred_at=timezone.now()
        )
    AccountRescoreMark.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        model = make_model(
            [account_rule("tier", "is_empty", True, 4), activity_rule(ActivityKind.WEBINAR, 12)],
            publish=False,
        )
        run = services.model_publish(model_id=model.pk)
    run.refresh_from_db()
    assert run.status == "done"
    assert run.result["accounts_written"] == 3
    assert not AccountRescoreMark.objects.exists()  # the lead batches marked none
    scores = dict(AccountScore.objects.values_list("account_id", "engagement_score"))
    # each member's new engagement (12, engaged) counted: 12 + 1 engaged × 5 + 1 role × 10
    assert scores == {accounts[0].pk: 27, accounts[1].pk: 27, accounts[2].pk: 0}
    assert set(AccountScore.objects.values_list("fit_score", "model_id")) == {(4, model.pk)}


@pytest.mark.django_db
def test_a_large_backlog_is_swept_in_wide_batches_with_the_same_scores(monkeypatch, settings):
    make_model([activity_rule(ActivityKind.WEBINAR, 30)])
    accounts = [_account(f"A{i}") for i in range(5)]
    for i, account in enumerate(accounts):
        _member(account, 10 * i, BuyingRole.CHAMPION)
    AccountRescoreMark.objects.all().delete()
    company_services.accounts_mark([a.pk for a in accounts])  # one mark each
    settings.SCORING_BATCH_SIZE = 1
    # at least HASH_JOIN_MIN marked: a batch of up to WIDE_BATCH (hashing the leads)
    monkeypatch.setattr(account_engine, "HASH_JOIN_MIN", 3)
    monkeypatch.setattr(account_engine, "WIDE_BATCH", 4)
    result = services.account_scores_sweep()
    wide = connection.vendor == "postgresql"  # SQLite evaluates in Python, a batch at a time
    assert (result.scored, result.batches) == ((5, 2) if wide else (5, 5))
    expected = account_engine.evaluate_python(
        spec=engine.account_spec(services.published_model()), ids=[a.pk for a in accounts]
    )
    stored = {s.pk: (s.score, s.breakdown) for s in AccountScore.objects.all()}
    assert stored == {pk: (ev.score, ev.breakdown) for pk, ev in expected.items()}


@pytest.mark.django_db
def test_one_account_that_fails_is_set_aside_and_the_others_are_scored():
    make_model([activity_rule(ActivityKind.WEBINAR, 30)])
    accounts = [_account(f"A{i}") for i in range(6)]
    for account in accounts:
        _member(account, 20, BuyingRole.CHAMPION)
    bad = accounts[2]
    with db_fault(AccountScore, "account_id", bad.pk, "injected: account score refused") as fault:
        result = services.account_scores_sweep(batch_size=100)
        assert result.scored == 6
        scored = set(AccountScore.objects.values_list("account_id", flat=True))
        assert scored == {a.pk for a in accounts} - {bad.pk}
        letter = DeadLetter.objects.get()
        assert (letter.kind, letter.item_id) == ("scoring.account", bad.pk)
        assert "injected: account score refused" in letter.error
        assert not _marked()  # its mark went with the batch: no stall on it
        fault.remove()
    assert deadletter.retry(letter_id=letter.pk, manual=True) is True
    assert AccountScore.objects.get(pk=bad.pk).engagement_score == 20 + 5 + 10


# --- property: bulk = single = breakdown -------------------------------------------------------

TIERS, INDUSTRIES, COUNTRIES, SIZES = ["", "1", "2", "3"], ["", "Software", "retail"], ["", "DE", "us"], ["", "11-50", "51-200"]  # fmt: skip
ROLES = list(BuyingRole.values)
fields = {"tier": TIERS, "industry": INDUSTRIES, "country": COUNTRIES, "size_band": SIZES}
account_rules = st.sampled_from(sorted(fields)).flatmap(
    lambda f: st.one_of(
        st.builds(
            lambda op, values, points: account_rule(f, op, values, points),
            st.sampled_from(["in", "not_in"]),
            st.lists(
                st.sampled_from([v for v in fields[f] if v]).map(
                    lambda v: v.upper() if len(v) > 1 else v
                ),
                min_size=1,
                max_size=2,
                unique=True,
            ),
            st.integers(-10, 30),
        ),
        st.builds(
            lambda empty, points: account_rule(f, "is_empty", empty, points),
            st.booleans(),
            st.integers(-10, 30),
        ),
    )
)
accounts_data = st.lists(
    st.tuples(
        st.fixed_dictionaries({f: st.sampled_from(v) for f, v in fields.items()}),
        st.lists(
            st.tuples(
                st.sampled_from([0, 10, 25]) | st.integers(-20, 80),
                st.sampled_from(ROLES),
                st.booleans(),
            ),
            max_size=8,
        ),  # fmt: skip
    ),
    min_size=1,
    max_size=4,
)


class AccountEvaluationAgreesTest(TestCase):
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        rule_data=st.lists(account_rules, max_size=5),
        model_settings=st.fixed_dictionaries(
            {
                "account_engaged_min": st.integers(0, 40),
                "account_engagement_cap": st.integers(0, 150),
                "account_member_points": st.integers(0, 10),
                "account_member_cap": st.integers(0, 6),
                "account_role_points": st.integers(0, 15),
            }
        ),
        data=accounts_data,
        batch_size=st.integers(1, 3),
    )
    def test_bulk_single_and_breakdown_agree(self, rule_data, model_settings, data, batch_size):
        model = ScoringModel.objects.create(
            name="prop",
            version=ScoringModel.objects.count() + 1,
            status=ScoringModel.Status.PUBLISHED,
            **model_settings,
        )
        for i, rule in enumerate(rule_data):
            instance = model.rules.model(model=model, name=f"r{i}", **rule)
            services.rule_clean(instance)  # generated rules are valid ones
            instance.save()
        accounts = []
        shown: dict[int, list[tuple[int, int]]] = {}  # the members the breakdown lists
        for values, members in data:
            account = Account.objects.create(name="a", **values)
            shown[account.pk] = []
            for engagement, role, current in members:
                lead = LeadFactory(engagement_score=engagement)
                if current and engagement > 0:
                    shown[account.pk].append((-engagement, lead.pk))
                Membership.objects.create(
                    lead=lead,
                    account=account,
                    source="explicit",
                    role=role,
                    started_at=timezone.now() - timedelta(days=2),
                    ended_at=None if current else timezone.now() - timedelta(days=1),
                )
            accounts.append(account.pk)
        spec = engine.account_spec(model)

        # bulk: the sweep, batch by batch (one statement per batch on PostgreSQL)
        company_services.accounts_mark(accounts)
        assert services.account_scores_sweep(batch_size=batch_size).scored == len(accounts)
        bulk = {s.pk: s for s in AccountScore.objects.filter(pk__in=accounts)}
        python = account_engine.evaluate_python(spec=spec, ids=accounts)
        if connection.vendor == "postgresql":
            assert account_engine.evaluate_sql(spec=spec, ids=accounts) == python
            with mock.patch.object(account_engine, "HASH_JOIN_MIN", 0):  # a wide batch's plan
                assert account_engine.evaluate_sql(spec=spec, ids=accounts) == python
        for account_id in accounts:
            stored = bulk[account_id]
            single = services.score_account(account_id=account_id)
            explained = account_breakdown(account_id=account_id)
            assert single is not None
            assert explained is not None
            assert stored.score == single.score == explained["score"] == python[account_id].score
            assert stored.breakdown == single.breakdown == python[account_id].breakdown
            parts = explained["parts"]
            assert explained["engagement_score"] == sum(parts.values())
            assert explained["fit_score"] == sum(x["points"] for x in explained["rules"])
            assert stored.grade == explained["grade"]
            top = [
                {"lead_id": lead_id, "engagement": -minus}
                for minus, lead_id in sorted(shown[account_id])[: ar.MAX_MEMBERS_SHOWN]
            ]
            assert explained["members"] == top


@pytest.mark.django_db
def test_the_rules_editor_adds_an_account_fit_rule_and_shows_it(client, marketer):
    from django.urls import reverse

    client.force_login(marketer)
    draft = services.model_create(data={"name": "Spring"})
    form = {"name": "Tier 1", "kind": "account_fit", "points": "20", "decay": "model"}
    response = client.post(
        reverse("scoring:rule_add", args=[draft.pk]),
        {**form, "field": "tier", "op": "in", "value": "1, 2"},
    )
    assert response.status_code == 302
    rule = draft.rules.get()
    assert (rule.kind, rule.field, rule.op, rule.value) == ("account_fit", "tier", "in", ["1", "2"])
    page = client.get(reverse("scoring:model", args=[draft.pk])).content.decode()
    assert "account fit" in page
    assert "Tier 1" in page
    bad = client.post(
        reverse("scoring:rule_add", args=[draft.pk]),
        {**form, "field": "tier", "op": "contains_any", "value": "1"},
    )
    assert bad.status_code == 422  # shown again with the reason, nothing written
    assert "does not take" in bad.content.decode()
    assert draft.rules.count() == 1


@pytest.mark.django_db
def test_the_api_shows_and_edits_account_settings_and_refuses_bad_ones(client, marketer):
    client.force_login(marketer)
    base = "/api/v1/scoring"
    model = client.post(
        f"{base}/models/", {"name": "Q3", "account_member_cap": 3}, content_type="application/json"
    ).json()
    assert (model["account_member_cap"], model["account_mqa_threshold"]) == (3, 80)
    bad = client.patch(
        f"{base}/models/{model['id']}/",
        {"account_engagement_cap": -5},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert "account_engagement_cap" in bad.json()["error"]["fields"]
    rule = client.post(
        f"{base}/rules/",
        {"model": model["id"], "name": "t", **account_rule("size_band", "in", ["x"], 2)},
        content_type="application/json",
    )
    assert rule.status_code == 201
    bad_rule = client.post(
        f"{base}/rules/",
        {"model": model["id"], "name": "u", **account_rule("owner", "in", ["x"], 2)},
        content_type="application/json",
    )
    assert bad_rule.status_code == 400
    assert "owner" in str(bad_rule.json()["error"]["fields"]["field"])


@pytest.mark.django_db
def test_an_account_marked_many_times_is_scored_once_and_all_its_marks_go():
    make_model([activity_rule("webinar", 1)])
    acme, beta = _account(), _account("Beta")
    _member(acme, 30)
    _member(beta, 5)
    AccountRescoreMark.objects.bulk_create(
        AccountRescoreMark(account_id=pk, marked_at=timezone.now()) for pk in [acme.pk] * 5
    )
    assert AccountRescoreMark.objects.filter(account=acme).count() > 5  # and the members' own
    result = services.account_scores_sweep(batch_size=1)
    assert (result.scored, result.batches) == (2, 2)  # one batch each, not one per mark
    assert not AccountRescoreMark.objects.exists()

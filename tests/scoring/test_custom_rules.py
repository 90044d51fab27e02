"""Fit rules on custom fields (``custom.<key>``) and tags (issue 24): validation names the field
and the reason; every operator matches the same leads in the compiled SQL (PostgreSQL) and in
the reference evaluator (``scoring.rules.fit_matches``, SQLite's path); bulk = single =
breakdown; tagging queues a rescore; a field a live rule uses cannot be deleted; the editor
offers the fields and operators."""

import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from bulk import services as bulk_services
from configure.sales_services import config_delete, config_save
from leadflow.roles import Role
from leads import customfield_services, tags
from leads.models import CustomField, Lead, RescoreMark, Tag
from scoring import engine, services
from scoring import rules as r
from scoring.models import ScoringModel, ScoringRule, ScoringRun
from scoring.selectors import score_breakdown
from tests.leads.factories import LeadFactory, UserFactory
from tests.scoring.factories import activity_rule, fit_rule, make_model

MISSING = object()  # the lead has no value for the field

FIELDS: dict[str, dict[str, Any]] = {
    "erp": {
        "type": "choice",
        "choices": [{"value": v, "label": v.title()} for v in ("sap", "oracle", "odoo")],
    },
    "regions": {
        "type": "multi_choice",
        "choices": [{"value": v, "label": v.upper()} for v in ("emea", "amer", "apac")],
    },
    "partner": {"type": "boolean"},
    "seats": {"type": "integer"},
    "ratio": {"type": "decimal"},
    "budget": {"type": "money", "currency": "EUR"},
    "renewal": {"type": "date"},
    "signed_at": {"type": "datetime"},
    "note": {"type": "text"},
    "site": {"type": "url"},
    "contact": {"type": "email"},
    "ae": {"type": "user"},
}
TYPES = {key: spec["type"] for key, spec in FIELDS.items()}

# (field, op, value, [(stored value, matches), ...])
CASES: list[tuple[str, str, Any, list[tuple[Any, bool]]]] = [
    ("erp", "in", ["SAP", "odoo"], [("sap", True), ("odoo", True), ("oracle", False), (MISSING, False)]),
    ("erp", "not_in", ["sap"], [("sap", False), ("oracle", True), (MISSING, True)]),
    ("erp", "contains_any", ["ORA", "x"], [("oracle", True), ("sap", False), (MISSING, False)]),
    ("erp", "is_empty", True, [(MISSING, True), ("sap", False)]),
    ("erp", "is_empty", False, [(MISSING, False), ("sap", True)]),
    ("regions", "in", ["EMEA", "apac"], [(["emea"], True), (["amer", "apac"], True), (["amer"], False), (MISSING, False)]),
    ("regions", "not_in", ["emea"], [(["emea", "amer"], False), (["amer"], True), (MISSING, True)]),
    ("regions", "is_empty", True, [(MISSING, True), (["amer"], False)]),
    ("partner", "in", ["true"], [(True, True), (False, False), (MISSING, False)]),
    ("partner", "in", ["FALSE"], [(False, True), (True, False), (MISSING, False)]),
    ("partner", "not_in", ["true"], [(True, False), (False, True), (MISSING, True)]),
    ("partner", "is_empty", True, [(MISSING, True), (False, False)]),
    ("seats", "at_least", 50, [(50, True), (49, False), (10**17, True), (-3, False), (MISSING, False)]),
    ("seats", "below", 50, [(49, True), (50, False), (-3, True), (MISSING, False)]),
    # values left by another type never compare as numbers; digits as text still do
    ("seats", "at_least", 10, [("12abc", False), (True, False), ("15", True), ("", False)]),
    ("seats", "is_empty", False, [(0, True), (MISSING, False)]),
    ("ratio", "at_least", 0.5, [("0.5", True), ("0.49", False), ("12", True), ("-0.6", False)]),
    ("budget", "below", 1000.5, [("1000.49", True), ("1000.50", False), ("999999999999.99", False)]),
    ("renewal", "at_least", "2026-12-05", [("2026-12-05", True), ("2026-12-04", False), ("2027-01-01", True), (MISSING, False)]),
    ("renewal", "below", "2026-12-05", [("2026-12-04", True), ("2026-12-05", False), (MISSING, False)]),
    # a date bound on a datetime: from the start of that day (UTC)
    ("signed_at", "at_least", "2026-12-05", [("2026-12-05T00:00:00Z", True), ("2026-12-04T23:59:59Z", False)]),
    ("signed_at", "below", "2026-12-05", [("2026-12-04T23:59:59Z", True), ("2026-12-05T09:30:00Z", False)]),
    ("note", "contains_any", ["Urgent"], [("very URGENT!", True), ("calm", False), (MISSING, False)]),
    ("note", "in", ["Hello"], [("hello", True), ("hello there", False)]),
    ("site", "in", ["https://Acme.example/"], [("https://acme.example/", True), ("https://b.example/", False)]),
    ("contact", "not_in", ["a@b.example"], [("a@b.example", False), ("c@d.example", True), (MISSING, True)]),
    ("ae", "in", ["5"], [(5, True), (6, False), (MISSING, False)]),
]  # fmt: skip

# (op, value, [(tag names on the lead, matches), ...]); tags: VIP, Partner, Trade fair
TAG_CASES: list[tuple[str, Any, list[tuple[list[str], bool]]]] = [
    ("in", ["vip", "PARTNER"], [(["VIP"], True), (["Partner", "Trade fair"], True), (["Trade fair"], False), ([], False)]),
    ("not_in", ["vip"], [(["VIP"], False), (["Trade fair"], True), ([], True)]),
    ("is_empty", True, [([], True), (["VIP"], False)]),
    ("is_empty", False, [([], False), (["Partner"], True)]),
]  # fmt: skip


def make_fields() -> None:
    for key, spec in FIELDS.items():
        CustomField.objects.create(key=key, label=key.title(), **spec)


def lead_input(lead_id: int) -> dict[str, Any]:
    """The reference evaluator's view of a lead, read independently of the engine."""
    row: dict[str, Any] = Lead.objects.values(
        "created_at", "score_reset_at", "custom", *engine.LEAD_FIELDS
    ).get(pk=lead_id)
    row["tags"] = list(Lead.objects.get(pk=lead_id).tags.values_list("name", flat=True))
    return row


def evaluate(model: ScoringModel, ids: list[int]) -> dict[int, engine.Evaluated]:
    spec = engine.model_spec(model)
    rows = engine.evaluate_rows(model=model, spec=spec, ids=ids, now=timezone.now())
    return {row.lead_id: row for row in rows}


def check(model: ScoringModel, expected: dict[int, bool]) -> None:
    """Engine (SQL on PostgreSQL) and reference evaluator agree with ``expected``, and the
    breakdown lists the rule exactly where it matched."""
    (rule,) = engine.model_spec(model).rules
    rows = evaluate(model, sorted(expected))
    for lead_id, want in expected.items():
        row = rows[lead_id]
        assert r.fit_matches(rule, lead_input(lead_id)) is want, (lead_id, want)
        assert (row.fit == 7) is want, (lead_id, row)
        assert row.breakdown == ([[rule.rule_id, 1, 7, 7]] if want else [])


# --- validation (pure) ----------------------------------------------------------------------


def _refused(**kwargs: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as exc:
        r.validate_fit(custom_fields=TYPES, **kwargs)
    return {k: " ".join(v) for k, v in exc.value.message_dict.items()}


def test_an_unknown_custom_field_is_named_with_the_known_keys():
    errors = _refused(field_name="custom.crm", op="in", value=["x"])
    assert "'crm'" in errors["field"]
    assert "ae, budget, contact, erp" in errors["field"]
    no_fields = pytest.raises(
        ValidationError, r.validate_fit, field_name="custom.crm", op="in", value=["x"]
    )
    assert "none yet" in str(no_fields.value)


@pytest.mark.parametrize(
    ("field", "op", "value", "key", "words"),
    [
        ("custom.erp", "at_least", 5, "op", ["custom field 'erp' (choice)", "'at_least'"]),
        ("custom.seats", "in", ["5"], "op", ["custom field 'seats' (integer)", "at_least"]),
        ("custom.regions", "contains_any", ["emea"], "op", ["(multi_choice)"]),
        ("custom.seats", "at_least", "50", "value", ["one number", "'50'"]),
        ("custom.seats", "below", True, "value", ["one number"]),
        ("custom.seats", "below", float("inf"), "value", ["one number"]),
        ("custom.renewal", "at_least", 5, "value", ["YYYY-MM-DD"]),
        ("custom.renewal", "at_least", "2026-13-01", "value", ["YYYY-MM-DD", "2026-13-01"]),
        ("custom.signed_at", "below", "2026-12-05T10:00:00Z", "value", ["YYYY-MM-DD"]),
        ("custom.partner", "in", ["yes"], "value", ['["true"]']),
        ("custom.erp", "in", [], "value", ["non-empty list"]),
        ("custom.erp", "is_empty", "yes", "value", ["true or false"]),
        ("tags", "contains_any", ["vip"], "op", ["tags does not take", "is_empty"]),
        ("tags", "at_least", 3, "op", ["tags does not take"]),
        ("industry", "at_least", 3, "op", ["field 'industry' does not take"]),
        ("erp", "in", ["sap"], "field", ["'erp'", "'tags'", "custom.erp"]),
    ],
)
def test_rules_that_cannot_be_evaluated_are_refused_naming_field_and_reason(
    field, op, value, key, words
):
    errors = _refused(field_name=field, op=op, value=value)
    assert set(errors) == {key}
    for word in words:
        assert word in errors[key]


@pytest.mark.parametrize(("field", "op", "value", "_stored"), CASES)
def test_every_case_rule_is_valid(field, op, value, _stored):
    r.validate_fit(field_name=f"custom.{field}", op=op, value=value, custom_fields=TYPES)


@pytest.mark.django_db
def test_the_service_reads_the_custom_fields_and_refuses_an_unknown_one():
    CustomField.objects.create(key="erp", label="ERP", type="choice", choices=[{"value": "sap"}])
    model = services.model_create(data={"name": "m"})
    services.rule_create(
        model_id=model.pk, data={"name": "a", **fit_rule("custom.erp", "in", ["sap"], 5)}
    )
    with pytest.raises(ValidationError) as exc:
        services.rule_create(
            model_id=model.pk, data={"name": "b", **fit_rule("custom.crm", "in", ["x"], 5)}
        )
    assert (
        "Unknown custom field 'crm'; the lead's custom fields are erp."
        in exc.value.message_dict["field"]
    )
    long_key = "k" * 40  # "custom." + the longest key fits the rule's field
    CustomField.objects.create(key=long_key, label="Long", type="integer")
    rule = services.rule_create(
        model_id=model.pk, data={"name": "c", **fit_rule(f"custom.{long_key}", "at_least", 3, 5)}
    )
    assert rule.field == f"custom.{long_key}"


# --- every operator: SQL (PostgreSQL) = reference evaluator, missing values included ----------


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "op", "value", "stored"), CASES)
def test_custom_operator_matches(field, op, value, stored):
    make_fields()
    model = make_model([fit_rule(f"custom.{field}", op, value, 7)])
    expected = {}
    for raw, want in stored:
        lead = LeadFactory(custom={} if raw is MISSING else {field: raw})
        expected[lead.pk] = want
    check(model, expected)


@pytest.mark.django_db
@pytest.mark.parametrize(("op", "value", "held"), TAG_CASES)
def test_tag_operator_matches(op, value, held):
    made = {name: Tag.objects.create(name=name) for name in ("VIP", "Partner", "Trade fair")}
    model = make_model([fit_rule("tags", op, value, 7)])
    expected = {}
    for names, want in held:
        lead = LeadFactory()
        lead.tags.add(*(made[n] for n in names))
        expected[lead.pk] = want
    check(model, expected)


@pytest.mark.django_db
def test_tags_are_read_for_the_batch_in_one_query(django_assert_max_num_queries):
    vip = Tag.objects.create(name="VIP")
    model = make_model([fit_rule("tags", "in", ["vip"], 7)])
    ids = []
    for _ in range(5):
        lead = LeadFactory()
        lead.tags.add(vip)
        ids.append(lead.pk)
    spec = engine.model_spec(model)
    with django_assert_max_num_queries(5 if connection.vendor == "postgresql" else 4):
        rows = engine.evaluate_rows(model=model, spec=spec, ids=ids, now=timezone.now())
    assert [row.fit for row in rows] == [7] * 5


@pytest.mark.django_db
def test_models_without_custom_or_tag_rules_compile_as_before():
    CustomField.objects.create(key="erp", label="ERP", type="choice", choices=[{"value": "sap"}])
    plain = make_model([fit_rule("industry", "in", ["Software"], 5), activity_rule("webinar", 3)])
    sql, _ = engine._compile(engine.model_spec(plain))
    assert "custom" not in sql
    assert Lead.tags.through._meta.db_table not in sql
    both = make_model(
        [fit_rule("custom.erp", "in", ["sap"], 5), fit_rule("tags", "is_empty", False, 1)]
    )
    sql, _ = engine._compile(engine.model_spec(both))
    assert "l.custom" in sql
    assert Lead.tags.through._meta.db_table in sql


# --- bulk = single = breakdown -------------------------------------------------------------


@pytest.mark.django_db
def test_custom_choice_rule_bulk_single_and_breakdown_agree():
    make_fields()
    model = make_model(
        [
            fit_rule("custom.erp", "in", ["sap"], 12),
            fit_rule("industry", "in", ["Software"], 5),
            fit_rule("custom.seats", "at_least", 100, 3),
        ]
    )
    rule = model.rules.get(field="custom.erp")
    leads = [
        LeadFactory(custom={"erp": "sap", "seats": 250}),
        LeadFactory(custom={"erp": "oracle"}),
        LeadFactory(custom={}),
        LeadFactory(custom={"erp": "sap"}, industry="Retail"),
    ]
    ids = [lead.pk for lead in leads]
    run = ScoringRun.objects.create(model=model, kind=ScoringRun.Kind.RESCORE)
    services.run_execute(run_id=run.pk, batch_size=3)  # bulk, in two batches
    bulk = dict(Lead.objects.filter(pk__in=ids).values_list("pk", "fit_score"))
    assert [bulk[i] for i in ids] == [20, 5, 5, 12]
    for lead_id in ids:
        services.score_lead(lead_id=lead_id)  # single
        single = Lead.objects.get(pk=lead_id).fit_score
        breakdown = score_breakdown(lead_id=lead_id)
        assert breakdown is not None
        assert bulk[lead_id] == single == breakdown["fit_score"] == breakdown["score"]
        assert sum(x["points"] for x in breakdown["rules"]) == single
    shown = score_breakdown(lead_id=ids[0])
    assert shown is not None
    assert {"rule_id": rule.pk, "name": "rule 0", "points": 12, "dimension": "fit"}.items() <= (
        next(x for x in shown["rules"] if x["rule_id"] == rule.pk).items()
    )
    assert rule.pk not in [x["rule_id"] for x in score_breakdown(lead_id=ids[1])["rules"]]


# --- tagging queues a rescore -------------------------------------------------------------


@pytest.mark.django_db
def test_tagging_and_untagging_mark_the_lead_and_the_sweep_applies_the_tag_rule(marketer):
    make_model([fit_rule("tags", "in", ["vip"], 9)])
    lead, other = LeadFactory(), LeadFactory()
    services.score_dirty_sweep()
    RescoreMark.objects.all().delete()
    assert tags.lead_tag(lead_id=lead.pk, name="VIP", actor=None)
    assert list(RescoreMark.objects.values_list("lead_id", flat=True)) == [lead.pk]
    services.score_dirty_sweep()
    assert Lead.objects.get(pk=lead.pk).fit_score == 9
    assert not tags.lead_tag(lead_id=lead.pk, name="vip", actor=None)  # already there
    assert not RescoreMark.objects.exists()
    assert tags.lead_untag(lead_id=lead.pk, name="vip", actor=None)
    services.score_dirty_sweep()
    assert Lead.objects.get(pk=lead.pk).fit_score == 0
    bulk_services.bulk_submit(
        actor=marketer,
        action_code="tag",
        data={"tag_name": "vip", "tag_op": "add"},
        token=uuid.uuid4(),
        lead_ids=[lead.pk, other.pk],
    )
    assert sorted(RescoreMark.objects.values_list("lead_id", flat=True)) == sorted(
        [lead.pk, other.pk]
    )
    services.score_dirty_sweep()
    assert list(
        Lead.objects.filter(pk__in=[lead.pk, other.pk]).values_list("fit_score", flat=True)
    ) == [9, 9]


@pytest.mark.django_db
def test_renaming_or_deleting_a_tag_in_settings_marks_its_leads():
    admin = UserFactory(username="tag-admin", role=Role.ADMIN)
    tag = Tag.objects.create(name="VIP")
    lead, untagged = LeadFactory(), LeadFactory()
    lead.tags.add(tag)
    make_model([fit_rule("tags", "in", ["very important"], 4)])
    services.score_dirty_sweep()
    RescoreMark.objects.all().delete()
    tag.colour = "red"
    config_save(instance=tag, actor=admin, changed=["colour"])
    assert not RescoreMark.objects.exists()  # the colour is nothing scoring reads
    tag.name = "Very important"
    config_save(instance=tag, actor=admin, changed=["name"])
    assert list(RescoreMark.objects.values_list("lead_id", flat=True)) == [lead.pk]
    services.score_dirty_sweep()
    assert Lead.objects.get(pk=lead.pk).fit_score == 4
    config_delete(instance=tag, actor=admin)
    assert list(RescoreMark.objects.values_list("lead_id", flat=True)) == [lead.pk]
    services.score_dirty_sweep()
    assert Lead.objects.get(pk=lead.pk).fit_score == 0
    assert untagged.pk not in RescoreMark.objects.values_list("lead_id", flat=True)


# --- deleting a custom field a rule uses ----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("publish", [False, True])
def test_a_field_a_draft_or_published_rule_uses_cannot_be_deleted(publish):
    field = CustomField.objects.create(
        key="erp", label="ERP", type="choice", choices=[{"value": "sap"}]
    )
    lead = LeadFactory(custom={"erp": "sap"})
    model = make_model([fit_rule("custom.erp", "in", ["sap"], 5)], publish=publish)
    with pytest.raises(services.CustomFieldUsedByRuleError) as exc:
        customfield_services.field_delete(field_id=field.pk, actor=None)
    status = "published" if publish else "draft"
    assert f"“rule 0” in test model v{model.version} ({status})" in exc.value.message
    assert "'erp'" in exc.value.message
    assert CustomField.objects.filter(pk=field.pk).exists()
    assert Lead.objects.get(pk=lead.pk).custom == {"erp": "sap"}


@pytest.mark.django_db
def test_an_archived_model_does_not_keep_a_field_from_being_deleted():
    field = CustomField.objects.create(
        key="erp", label="ERP", type="choice", choices=[{"value": "sap"}]
    )
    lead = LeadFactory(custom={"erp": "sap"})
    old = make_model([fit_rule("custom.erp", "in", ["sap"], 5)])
    assert evaluate(old, [lead.pk])[lead.pk].fit == 5
    make_model([fit_rule("industry", "in", ["Software"], 5)])  # archives ``old``
    old.refresh_from_db()
    assert old.status == ScoringModel.Status.ARCHIVED
    customfield_services.field_delete(field_id=field.pk, actor=None)
    assert not CustomField.objects.exists()
    # the values went with the field: the archived rule simply never matches again
    assert Lead.objects.get(pk=lead.pk).custom == {}
    assert evaluate(old, [lead.pk])[lead.pk].fit == 0


# --- the rule editor ------------------------------------------------------------------------


@pytest.fixture
def editor(client, marketer):
    client.force_login(marketer)
    return client


def _fit_form(**extra: str) -> dict[str, str]:
    return {"name": "Big", "kind": "fit", "points": "10", "decay": "model", **extra}


@pytest.mark.django_db
def test_the_editor_offers_custom_fields_tags_and_the_new_operators(editor):
    make_fields()
    model = services.model_create(data={"name": "Spring"})
    page = editor.get(reverse("scoring:model", args=[model.pk])).content.decode()
    for option in (
        'value="custom.seats"',
        'value="custom.erp"',
        'value="tags"',
        'value="at_least"',
        'value="below"',
    ):
        assert option in page
    url = reverse("scoring:rule_add", args=[model.pk])
    made = editor.post(url, _fit_form(field="custom.seats", op="at_least", value="250"))
    assert made.status_code == 302
    rule = ScoringRule.objects.get(model=model)
    assert (rule.field, rule.op, rule.value) == ("custom.seats", "at_least", 250)
    editor.post(
        url, _fit_form(name="Renewal", field="custom.renewal", op="below", value="2027-01-31")
    )
    editor.post(url, _fit_form(name="VIP", field="tags", op="in", value="VIP, partner"))
    assert dict(ScoringRule.objects.filter(model=model).values_list("name", "value")) == {
        "Big": 250,
        "Renewal": "2027-01-31",
        "VIP": ["VIP", "partner"],
    }
    edit = editor.get(reverse("scoring:rule_edit", args=[rule.pk])).content.decode()
    assert 'value="250"' in edit
    assert '<option value="custom.seats" selected>' in edit


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {"field": "custom.erp", "op": "at_least", "value": "5"},
            "custom field &#x27;erp&#x27; (choice) does not take",
        ),
        ({"field": "custom.seats", "op": "at_least", "value": "many"}, "Write one number"),
        ({"field": "custom.renewal", "op": "at_least", "value": "12"}, "YYYY-MM-DD"),
        ({"field": "tags", "op": "contains_any", "value": "vip"}, "tags does not take"),
    ],
)
def test_the_editor_shows_a_refused_rule_in_place(editor, data, error):
    make_fields()
    model = services.model_create(data={"name": "Spring"})
    page = editor.post(reverse("scoring:rule_add", args=[model.pk]), _fit_form(**data))
    assert page.status_code == 422
    assert error in page.content.decode()
    assert not ScoringRule.objects.exists()

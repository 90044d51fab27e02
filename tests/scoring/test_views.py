"""The rules editor pages: build a draft, see refusals in place, dry-run it, publish it."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.lifecycle import Stage
from leads.models import ActivityKind, Lead
from scoring import services
from scoring.forms import conditions_from_text, conditions_to_text
from scoring.models import LeadScore, ScoringModel, ScoringRule, ScoringRun
from tests.leads.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client, marketer):
    client.force_login(marketer)
    return client


ACCOUNT_SETTINGS = {
    "account_engaged_min": "10", "account_engagement_cap": "60", "account_member_points": "5",
    "account_member_cap": "5", "account_role_points": "10", "account_mqa_threshold": "80",
}  # fmt: skip


def _draft(**extra) -> ScoringModel:
    return services.model_create(data={"name": "Spring", "mql_threshold": 30, **extra})


def _activity_rule(**extra):
    return {
        "name": "Pricing page",
        "kind": "activity",
        "points": "20",
        "activity_kind": "page_view",
        "conditions": "url contains /pricing",
        "repeatable": "on",
        "decay": "model",
        **extra,
    }


def test_conditions_text_round_trips():
    text = "url contains /pricing\nasset in ebook-1, ebook-2\ncampaign exists"
    parsed = conditions_from_text(text)
    assert parsed == [
        {"property": "url", "op": "contains", "value": "/pricing"},
        {"property": "asset", "op": "in", "value": ["ebook-1", "ebook-2"]},
        {"property": "campaign", "op": "exists", "value": None},
    ]
    assert conditions_from_text(conditions_to_text(parsed)) == parsed


def test_marketer_adds_edits_and_deletes_rules_on_a_draft(editor):
    draft = _draft()
    response = editor.post(reverse("scoring:rule_add", args=[draft.pk]), _activity_rule())
    assert response.status_code == 302
    rule = ScoringRule.objects.get(model=draft)
    assert rule.conditions == [{"property": "url", "op": "contains", "value": "/pricing"}]
    page = editor.get(reverse("scoring:model", args=[draft.pk])).content.decode()
    assert "Pricing page" in page
    assert "url contains /pricing" in page

    edited = editor.post(
        reverse("scoring:rule_edit", args=[rule.pk]), _activity_rule(points="25", max_count="3")
    )
    assert edited.status_code == 302
    rule.refresh_from_db()
    assert (rule.points, rule.max_count) == (25, 3)

    fit = editor.post(
        reverse("scoring:rule_add", args=[draft.pk]),
        {"name": "Software", "kind": "fit", "points": "10", "field": "industry", "op": "in",
         "value": "software, fintech", "decay": "model"},
    )  # fmt: skip
    assert fit.status_code == 302
    assert ScoringRule.objects.get(kind="fit").value == ["software", "fintech"]

    editor.post(reverse("scoring:rule_delete", args=[rule.pk]))
    assert list(ScoringRule.objects.values_list("name", flat=True)) == ["Software"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"conditions": "url resembles /pricing"}, "conditions", "unknown operator"),
        ({"points": "lots"}, "points", "Enter a whole number"),
        ({"activity_kind": ""}, "activity_kind", "Unknown activity kind"),
        ({"decay": "half_life"}, "half_life_days", "needs a half-life"),
    ],
)
def test_a_refused_rule_is_shown_in_place_and_keeps_what_was_typed(editor, change, field, message):
    draft = _draft()
    response = editor.post(
        reverse("scoring:rule_add", args=[draft.pk]), _activity_rule(name="Typed name", **change)
    )
    assert response.status_code == 422
    form = response.context["rule_form"]
    assert message in " ".join(form.errors.get(field, [])), form.errors
    assert 'value="Typed name"' in response.content.decode()
    assert not ScoringRule.objects.exists()


def test_an_overlapping_rule_is_refused_with_the_reason(editor):
    draft = _draft()
    editor.post(reverse("scoring:rule_add", args=[draft.pk]), _activity_rule())
    again = editor.post(
        reverse("scoring:rule_add", args=[draft.pk]), _activity_rule(name="Pricing twice")
    )
    assert again.status_code == 422
    assert "already counts" in " ".join(again.context["rule_form"].errors["conditions"])
    assert ScoringRule.objects.count() == 1


def test_settings_are_validated_by_the_service(editor):
    draft = _draft()
    bad = {
        "name": "Spring", "lead_fit_threshold": "5", "mql_threshold": "30",
        "mql_min_grade": "C", "recycle_below": "40", "grade_a_min": "30", "grade_b_min": "15",
        "grade_c_min": "5", "decay": "none", **ACCOUNT_SETTINGS,
    }  # fmt: skip
    response = editor.post(reverse("scoring:model", args=[draft.pk]), bad)
    assert response.status_code == 422
    assert "below the MQL threshold" in " ".join(
        response.context["settings_form"].errors["recycle_below"]
    )
    draft.refresh_from_db()
    assert draft.recycle_below is None


def test_dry_run_reports_and_writes_nothing_then_publish_rescores(
    editor, django_capture_on_commit_callbacks
):
    lead = LeadFactory(stage=Stage.LEAD)
    for _ in range(2):
        ActivityFactory(
            lead=lead,
            kind=ActivityKind.PAGE_VIEW,
            properties={"url": "https://x.test/pricing"},
            occurred_at=timezone.now(),
        )
    draft = _draft(mql_min_grade="D")  # no fit rules: every lead is grade D
    editor.post(reverse("scoring:rule_add", args=[draft.pk]), _activity_rule())

    with django_capture_on_commit_callbacks(execute=True):
        response = editor.post(reverse("scoring:dry_run", args=[draft.pk]))
    run = ScoringRun.objects.get(kind=ScoringRun.Kind.DRY_RUN)
    assert response.url == reverse("scoring:run", args=[run.pk])
    page = editor.get(response.url)
    assert page.context["run"].result["enter_mql"] == 1
    assert {"label": "40-49", "before": 0, "after": 1} in page.context["bins"]
    assert not LeadScore.objects.exists()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.LEAD

    with django_capture_on_commit_callbacks(execute=True):
        editor.post(reverse("scoring:publish", args=[draft.pk]))
    lead.refresh_from_db()
    assert (lead.score, lead.stage) == (40, Stage.MQL)
    page = editor.get(reverse("scoring:model", args=[draft.pk])).content.decode()
    assert "Add a rule" not in page  # published versions are frozen
    frozen = editor.post(reverse("scoring:rule_add", args=[draft.pk]), _activity_rule(name="x"))
    assert frozen.status_code == 422
    assert ScoringRule.objects.filter(model=draft).count() == 1


def test_reps_cannot_open_the_editor(client, rep):
    client.force_login(rep)
    assert client.get(reverse("scoring:models")).status_code == 403
    assert client.post(reverse("scoring:rule_add", args=[_draft().pk])).status_code == 403


def test_list_page_offers_a_new_draft_of_the_published_version(editor):
    published = _draft()
    services.rule_create(
        model_id=published.pk,
        data={"name": "Webinar", "kind": "activity", "activity_kind": "webinar", "points": 15},
    )
    services.model_publish(model_id=published.pk)
    page = editor.get(reverse("scoring:models")).content.decode()
    assert f"New draft from v{published.version}" in page
    response = editor.post(reverse("scoring:new_version", args=[published.pk]))
    draft = ScoringModel.objects.get(status=ScoringModel.Status.DRAFT)
    assert response.url == reverse("scoring:model", args=[draft.pk])
    assert list(draft.rules.values_list("name", flat=True)) == ["Webinar"]


def test_model_page_gives_each_form_its_own_ids_so_every_label_names_its_field(editor):
    """The add-rule form and the settings form both have `name` and `decay`: one id each."""
    draft = _draft()
    html = editor.get(reverse("scoring:model", args=[draft.pk])).content.decode()
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    for target in re.findall(r'<label for="([^"]+)"', html):
        assert ids.count(target) == 1, target
    assert 'id="settings_name"' in html
    assert html.count('name="name"') == 2  # the posted field names stay as they were

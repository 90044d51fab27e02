"""Each rule feature, through the one evaluation (score_lead) and its stored breakdown."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from leads.models import ActivityKind
from scoring import services
from scoring.models import LeadScore
from scoring.selectors import score_breakdown
from tests.leads.factories import ActivityFactory, LeadFactory
from tests.scoring.factories import activity_rule, fit_rule, make_model

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def _score(lead, now=None):
    services.score_lead(lead_id=lead.pk, now=now)
    lead.refresh_from_db()
    breakdown = score_breakdown(lead_id=lead.pk)
    assert breakdown is not None
    assert sum(x["points"] for x in breakdown["rules"]) == lead.score == breakdown["score"]
    return lead, breakdown


def _acts(lead, kind, n, *, age=timedelta(hours=1), props=None, now=None):
    now = now or timezone.now()
    for i in range(n):
        ActivityFactory(
            lead=lead,
            kind=kind,
            occurred_at=now - age - timedelta(seconds=i),
            properties=props if props is not None else {},
        )


def test_repeatable_counts_every_match_and_once_counts_one():
    make_model(
        [
            activity_rule(ActivityKind.WEBINAR, 15),
            activity_rule(ActivityKind.DOWNLOAD, 10, repeatable=False),
        ]
    )
    lead = LeadFactory()
    _acts(lead, ActivityKind.WEBINAR, 3)
    _acts(lead, ActivityKind.DOWNLOAD, 4)
    lead, bd = _score(lead)
    assert lead.engagement_score == 3 * 15 + 10
    counts = {x["points"]: x["count"] for x in bd["rules"]}
    assert counts == {45: 3, 10: 1}


def test_property_conditions_select_activities():
    make_model(
        [
            activity_rule(
                ActivityKind.PAGE_VIEW,
                20,
                conditions=[{"property": "url", "op": "contains", "value": "/pricing"}],
            )
        ]
    )
    lead = LeadFactory()
    _acts(lead, ActivityKind.PAGE_VIEW, 2, props={"url": "/pricing?plan=pro"})
    _acts(lead, ActivityKind.PAGE_VIEW, 5, props={"url": "/blog"})
    _acts(lead, ActivityKind.PAGE_VIEW, 1, props={})
    lead, _ = _score(lead)
    assert lead.score == 40


def test_caps_max_count_and_max_points():
    make_model(
        [
            activity_rule(ActivityKind.EMAIL_CLICK, 5, max_count=3),
            activity_rule(ActivityKind.PAGE_VIEW, 4, max_points=10),
        ]
    )
    lead = LeadFactory()
    _acts(lead, ActivityKind.EMAIL_CLICK, 6)
    _acts(lead, ActivityKind.PAGE_VIEW, 6, props={"url": "/"})
    lead, bd = _score(lead)
    assert lead.score == 15 + 10
    view = next(x for x in bd["rules"] if x["count"] == 6)
    assert view["points"] == 10


def test_window_cap_counts_at_most_n_per_window():
    make_model([activity_rule(ActivityKind.PAGE_VIEW, 1, window_days=1, window_max=2)])
    lead = LeadFactory()
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    for day in range(3):  # three days, five views each (all within one UTC day)
        _acts(lead, ActivityKind.PAGE_VIEW, 5, age=timedelta(days=day, hours=1), now=now)
    lead, _ = _score(lead, now=now)
    assert lead.score == 3 * 2


def test_negative_points_for_unsubscribe_and_bounce():
    make_model(
        [
            activity_rule(ActivityKind.WEBINAR, 15),
            activity_rule(ActivityKind.UNSUBSCRIBE, -30, repeatable=False),
            activity_rule(ActivityKind.EMAIL_BOUNCE, -5),
        ]
    )
    lead = LeadFactory()
    _acts(lead, ActivityKind.WEBINAR, 1)
    _acts(lead, ActivityKind.UNSUBSCRIBE, 2)
    _acts(lead, ActivityKind.EMAIL_BOUNCE, 2)
    lead, _ = _score(lead)
    assert lead.score == 15 - 30 - 10


def test_half_life_decay_at_known_ages():
    make_model([activity_rule(ActivityKind.WEBINAR, 40)], decay="half_life", half_life_days=30)
    now = timezone.now()
    lead = LeadFactory()
    _acts(lead, ActivityKind.WEBINAR, 1, age=30 * DAY, now=now)  # 20
    _acts(lead, ActivityKind.WEBINAR, 1, age=60 * DAY, now=now)  # 10
    _acts(lead, ActivityKind.WEBINAR, 1, age=timedelta(0), now=now)  # 40
    lead, bd = _score(lead, now=now)
    assert lead.score == 70
    assert bd["rules"][0]["undecayed_points"] == 120
    assert bd["rules"][0]["decay"] == -50


def test_step_decay_per_rule_overrides_the_model():
    make_model(
        [
            activity_rule(ActivityKind.DOWNLOAD, 10, decay="step", decay_steps=[[7, 0.5], [30, 0]]),
            activity_rule(ActivityKind.WEBINAR, 10, decay="none"),
        ],
        decay="half_life",
        half_life_days=1,
    )
    now = timezone.now()
    lead = LeadFactory()
    _acts(lead, ActivityKind.DOWNLOAD, 1, age=DAY, now=now)  # 10
    _acts(lead, ActivityKind.DOWNLOAD, 1, age=10 * DAY, now=now)  # 5
    _acts(lead, ActivityKind.DOWNLOAD, 1, age=40 * DAY, now=now)  # 0
    _acts(lead, ActivityKind.WEBINAR, 1, age=400 * DAY, now=now)  # 10, no decay
    lead, _ = _score(lead, now=now)
    assert lead.score == 25


def test_inactivity_rule_gives_negative_points_after_n_quiet_days():
    make_model(
        [
            activity_rule(ActivityKind.WEBINAR, 15),
            {"kind": "inactivity", "inactive_days": 90, "points": -20},
        ]
    )
    now = timezone.now()
    quiet, busy = LeadFactory(), LeadFactory()
    _acts(quiet, ActivityKind.WEBINAR, 1, age=100 * DAY, now=now)
    _acts(busy, ActivityKind.WEBINAR, 1, age=10 * DAY, now=now)
    assert _score(quiet, now=now)[0].score == -5
    assert _score(busy, now=now)[0].score == 15


def test_fit_bands_grade_and_free_mail():
    make_model(
        [
            fit_rule("industry", "in", ["Software", "Financial services"], 10),
            fit_rule("company_size", "in", ["201-1000", "1001-5000", "5001+"], 10),
            fit_rule("job_title", "contains_any", ["vp", "director", "chief"], 15),
            {"kind": "fit", "op": "free_mail", "value": True, "points": -10},
            fit_rule("domain", "in", ["rival.example"], -50),
        ],
        grade_a_min=30,
        grade_b_min=15,
        grade_c_min=5,
    )
    a = LeadFactory(industry="Software", company_size="1001-5000", job_title="VP Sales")
    b = LeadFactory(industry="Retail", company_size="5001+", job_title="Director of Ops")
    free = LeadFactory(email="x@gmail.com", domain="gmail.com", industry="Software")
    rival = LeadFactory(email="y@rival.example", domain="rival.example")
    assert (_score(a)[0].fit_score, a.grade) == (35, "A")
    assert (_score(b)[0].fit_score, b.grade) == (25, "B")
    assert (_score(free)[0].fit_score, free.grade) == (0, "D")
    assert _score(rival)[0].fit_score == -40
    assert {x["dimension"] for x in score_breakdown(lead_id=a.pk)["rules"]} == {"fit"}


def test_engagement_reset_ignores_older_activities():
    make_model([activity_rule(ActivityKind.WEBINAR, 15)])
    lead = LeadFactory()
    now = timezone.now()
    _acts(lead, ActivityKind.WEBINAR, 2, age=10 * DAY, now=now)
    _acts(lead, ActivityKind.WEBINAR, 1, age=DAY, now=now)
    lead.score_reset_at = now - 5 * DAY
    lead.save(update_fields=["score_reset_at"])
    assert _score(lead, now=now)[0].score == 15


def test_breakdown_is_none_before_scoring_and_json_ready():
    import json

    lead = LeadFactory()
    assert score_breakdown(lead_id=lead.pk) is None
    model = make_model([activity_rule(ActivityKind.WEBINAR, 15)])
    _acts(lead, ActivityKind.WEBINAR, 1)
    _, bd = _score(lead)
    assert json.loads(json.dumps(bd))["model_version"] == model.version
    assert (
        bd["rules"][0] | {"name": "rule 0", "dimension": "engagement", "count": 1} == bd["rules"][0]
    )
    assert LeadScore.objects.get(pk=lead.pk).model_id == model.pk


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"kind": "fit", "field": "salary", "op": "in", "value": ["x"], "points": 1}, "field"),
        ({"kind": "fit", "field": "industry", "op": "like", "value": ["x"], "points": 1}, "op"),
        ({"kind": "activity", "activity_kind": "webinar", "points": "ten"}, "points"),
        ({"kind": "activity", "activity_kind": "teleport", "points": 1}, "activity_kind"),
        (
            {
                "kind": "activity",
                "activity_kind": "page_view",
                "points": 1,
                "conditions": [{"property": "url", "op": "regex", "value": ".*"}],
            },
            "conditions",
        ),
        (
            {"kind": "activity", "activity_kind": "page_view", "points": 1, "window_days": 1},
            "window_max",
        ),
        (
            {
                "kind": "activity",
                "activity_kind": "page_view",
                "points": 1,
                "decay": "step",
                "decay_steps": [[30, 0.5], [10, 0.1]],
            },
            "decay_steps",
        ),
        ({"kind": "inactivity", "points": -5}, "inactive_days"),
    ],
)
def test_invalid_rules_are_refused_at_save_naming_the_field(rule, field):
    model = make_model([], publish=False)
    with pytest.raises(ValidationError) as err:
        services.rule_create(model_id=model.pk, data={"name": "bad", **rule})
    assert field in err.value.message_dict
    assert not model.rules.exists()


def test_overlapping_rules_and_cycling_thresholds_are_refused():
    model = make_model([activity_rule(ActivityKind.WEBINAR, 15)], publish=False)
    with pytest.raises(ValidationError, match="counts exactly what"):
        services.rule_create(
            model_id=model.pk, data={"name": "again", **activity_rule(ActivityKind.WEBINAR, 5)}
        )
    assert model.rules.count() == 1
    with pytest.raises(ValidationError) as err:
        services.model_update(model_id=model.pk, data={"mql_threshold": 50, "recycle_below": 60})
    assert "recycle_below" in err.value.message_dict


def test_published_models_are_frozen_and_new_versions_copy_rules():
    model = make_model([activity_rule(ActivityKind.WEBINAR, 15)])
    with pytest.raises(services.ModelNotDraftError):
        services.rule_create(model_id=model.pk, data={"name": "x", **activity_rule("trial", 5)})
    draft = services.model_new_version(model_id=model.pk)
    assert draft.version == model.version + 1
    assert list(draft.rules.values_list("points", flat=True)) == [15]
    services.model_publish(model_id=draft.pk)
    model.refresh_from_db()
    assert model.status == "archived"

"""Touches, credits and the rollup kept by the refresh, against independent counts."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from segment.analytics.client import Client as SegmentClient

from attribution import services
from attribution.credit import MODEL_NAMES, WHOLE
from attribution.models import (
    CREDIT_FIELDS,
    REVENUE_FIELDS,
    CreditDay,
    LeadCredit,
    RefreshMark,
    Touch,
)
from attribution.services import refresh_marked
from leadflow.models import DeadLetter
from leads.lifecycle import Stage
from leads.models import Activity, ActivityKind, Lead, StageChange
from leads.services import lead_move
from tests.reports.conftest import make_lead

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
FUNNEL_AFTER = {
    "mql": ("mql", "sal", "sql", "customer"),
    "sql": ("sql", "customer"),
    "customer": ("customer",),
}


def _rollup() -> dict[tuple[object, ...], tuple[int, ...]]:
    fields = (*CREDIT_FIELDS, *REVENUE_FIELDS)
    return {
        (r.outcome, r.day, r.source, r.medium, r.campaign): tuple(getattr(r, f) for f in fields)
        for r in CreditDay.objects.all()
        if any(getattr(r, f) for f in fields)
    }


def _random_leads(rng: random.Random, n: int) -> list[Lead]:
    """Leads with a replayed history and channel-tagged activities at random times."""
    leads = []
    paths = [
        ["suspect", "lead"],
        ["suspect", "lead", "mql", "nurture"],
        ["suspect", "mql", "sal", "sql"],
        ["suspect", "lead", "mql", "sal", "sql", "customer"],
        ["suspect", "lead", "mql", "nurture", "mql", "sal", "sql", "customer"],
    ]
    for i in range(n):
        start = T0 + timedelta(days=rng.randint(0, 60))
        path = rng.choice(paths)
        steps, at = [], start
        for stage in path:
            at += timedelta(hours=rng.randint(1, 400))
            steps.append((stage, at))
        deal = Decimal(rng.randint(0, 10**6)) / 100 if path[-1] == "customer" else None
        lead = make_lead(
            f"r{i}", rng.choice(["web", "partner", ""]), deal, steps,
            utm_source=rng.choice(["", "google", "linkedin"]),
            utm_medium=rng.choice(["", "cpc"]),
        )  # fmt: skip
        for j in range(rng.randint(0, 6)):
            kind, props = rng.choice(
                [
                    (ActivityKind.PAGE_VIEW, {"utm": {"source": "google", "medium": "cpc", "campaign": "spring"}}),
                    (ActivityKind.PAGE_VIEW, {"url": "https://acme.example/?utm_source=newsletter&utm_medium=email"}),
                    (ActivityKind.EMAIL_CLICK, {"campaign": f"nl-{rng.randint(1, 3)}"}),
                    (ActivityKind.PAGE_VIEW, {"url": "https://acme.example/p", "referrer": "https://www.bing.com/"}),
                    (ActivityKind.PAGE_VIEW, {"url": "https://acme.example/p"}),  # not a touch
                    (ActivityKind.DOWNLOAD, {"asset": "x"}),  # not a touch
                ]
            )  # fmt: skip
            Activity.objects.create(
                lead=lead,
                kind=kind,
                occurred_at=start + timedelta(hours=rng.randint(-48, 900)),
                properties=props,
                message_id=f"r{i}-{j}",
            )
        leads.append(lead)
    services.mark(lead.pk for lead in leads)
    return leads


def _check_totals() -> None:
    """Each model's credits per outcome = the leads that reached it (counted from the stage log
    here); revenue = the won leads' deal values; the rollup = the sum of the lead credits."""
    for outcome, stages in FUNNEL_AFTER.items():
        reached = (
            StageChange.objects.filter(to_stage__in=stages).values("lead_id").distinct().count()
        )
        rows = CreditDay.objects.filter(outcome=outcome)
        for name in MODEL_NAMES:
            assert sum(getattr(r, name) for r in rows) == reached * WHOLE, (outcome, name)
    won_cents = sum(
        int(v * 100)
        for v in Lead.objects.filter(stage="customer").values_list("deal_value", flat=True)
        if v
    )
    rows = CreditDay.objects.filter(outcome="customer")
    for field in REVENUE_FIELDS:
        assert sum(getattr(r, field) for r in rows) == won_cents, field
    by_key: dict[tuple[object, ...], list[int]] = {}
    for c in LeadCredit.objects.all():
        vector = by_key.setdefault((c.outcome, c.day, c.source, c.medium, c.campaign), [0] * 12)
        for i, f in enumerate((*CREDIT_FIELDS, *REVENUE_FIELDS)):
            vector[i] += getattr(c, f)
    assert {k: tuple(v) for k, v in by_key.items() if any(v)} == _rollup()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_refreshes_equal_a_rebuild_and_independent_totals(db, seed):
    rng = random.Random(seed)
    leads = _random_leads(rng, 40)
    refresh_marked(batch_size=7)
    assert RefreshMark.objects.count() == 0
    _check_totals()
    # more activities, a deleted lead, a changed deal value: only marks, then a refresh
    for lead in rng.sample(leads, 10):
        Activity.objects.create(
            lead=lead,
            kind=ActivityKind.EMAIL_CLICK,
            occurred_at=T0,
            properties={"campaign": "late"},
        )
        services.mark([lead.pk])
    gone = leads[0]
    gone.delete()
    won = Lead.objects.filter(stage="customer").first()
    if won is not None:
        won.deal_value = Decimal("12345.67")
        won.save(update_fields=["deal_value"])
    refresh_marked(batch_size=5)
    _check_totals()
    assert not LeadCredit.objects.filter(lead_id=gone.pk).exists()
    incremental = _rollup()
    services.rebuild(batch_size=9)
    assert _rollup() == incremental


def test_a_lead_that_fails_is_set_aside_and_the_rest_of_its_batch_is_attributed(db, monkeypatch):
    leads = _random_leads(random.Random(9), 12)
    bad = leads[5]
    Activity.objects.create(
        lead=bad, kind=ActivityKind.PAGE_VIEW, occurred_at=T0, properties={"boom": True}
    )
    real = services.activity_tags

    def tags(kind, properties):
        if isinstance(properties, dict) and properties.get("boom"):
            raise ValueError("a broken activity")
        return real(kind, properties)

    monkeypatch.setattr(services, "activity_tags", tags)
    result = refresh_marked(batch_size=50)
    assert result.leads == 11
    letter = DeadLetter.objects.get()
    assert (letter.kind, letter.item_id) == (services.DEAD_REFRESH, bad.pk)
    assert not LeadCredit.objects.filter(lead_id=bad.pk).exists()
    assert LeadCredit.objects.filter(lead_id=leads[6].pk).exists()
    monkeypatch.setattr(services, "activity_tags", real)
    services.retry_lead(bad.pk)
    _check_totals()


def test_touches_of_a_lead(db):
    lead = make_lead(
        "t", "partner", None, [("suspect", T0), ("mql", T0 + timedelta(days=3))],
        utm_source="google", utm_medium="cpc", utm_campaign="brand",
    )  # fmt: skip
    for i, (kind, props) in enumerate(
        [
            (ActivityKind.EMAIL_CLICK, {"campaign": "nl-7"}),
            (ActivityKind.EMAIL_OPEN, {"campaign": "nl-7"}),  # opens are not touches
            (ActivityKind.FORM_SUBMIT, {"page": "https://acme.example/demo?utm_source=xing&utm_medium=social"}),
            (ActivityKind.PAGE_VIEW, {"url": "https://acme.example/a", "context": {"page": {"referrer": "https://acme.example/"}}}),
            (ActivityKind.PAGE_VIEW, {"url": "https://acme.example/b", "context": {"page": {"referrer": "https://www.google.de/"}}}),
            (ActivityKind.CUSTOM, {"utm": {"source": "podcast", "medium": "audio", "campaign": "ep-9"}}),
        ]
    ):  # fmt: skip
        Activity.objects.create(
            lead=lead, kind=kind, occurred_at=T0 + timedelta(hours=i + 1), properties=props
        )
    refresh_marked()
    touches = list(
        Touch.objects.filter(lead=lead)
        .order_by("occurred_at", "id")
        .values_list("kind", "source", "medium", "campaign")
    )
    assert touches == [
        ("created", "google", "cpc", "brand"),
        ("email", "email", "email", "nl-7"),
        ("form", "xing", "social", ""),
        ("referral", "google.de", "organic", ""),
        ("campaign", "podcast", "audio", "ep-9"),
    ]
    # the MQL: first touch = the creation's tags, last = the podcast
    mql = {
        (c.source, c.campaign): (c.first, c.last, c.linear)
        for c in LeadCredit.objects.filter(lead_id=lead.pk)
    }
    assert mql[("google", "brand")] == (WHOLE, 0, WHOLE // 5)
    assert mql[("podcast", "ep-9")] == (0, WHOLE, WHOLE // 5)


def test_real_segment_client_campaigns_become_touches_and_a_move_marks_the_lead(
    live_server, make_api_key, transactional_db
):
    """analytics-python sends a page with a campaign, an identify and an e-mail click; the
    lead then becomes an MQL through the lifecycle service: all of it is attributed."""
    secret, _ = make_api_key("events:write")
    failures: list = []
    client = SegmentClient(
        write_key=secret, host=live_server.url, max_retries=0,
        on_error=lambda error, batch: failures.append(error),
    )  # fmt: skip
    when = datetime(2026, 3, 2, 10, tzinfo=UTC)
    client.identify(
        user_id="attr-1", traits={"email": "attr-1@acme.example"}, timestamp=when, message_id="a1"
    )
    client.page(
        user_id="attr-1", name="Pricing", properties={"url": "https://acme.example/pricing"},
        context={"campaign": {"source": "linkedin", "medium": "paid_social", "name": "q1-abm"}},
        timestamp=when + timedelta(minutes=1), message_id="a2",
    )  # fmt: skip
    client.track(
        user_id="attr-1", event="Email Link Clicked", properties={"campaign": "nurture-3"},
        timestamp=when + timedelta(days=2), message_id="a3",
    )  # fmt: skip
    client.flush()
    client.join()
    assert failures == []
    lead = Lead.objects.get(external_id="attr-1")
    assert RefreshMark.objects.filter(lead_id=lead.pk).exists()
    for stage in (Stage.LEAD, Stage.MQL):
        lead_move(lead_id=lead.pk, to=stage, actor=None, source=StageChange.Source.SYSTEM)
    refresh_marked()
    kinds = list(
        Touch.objects.filter(lead=lead).order_by("occurred_at").values_list("kind", "source")
    )
    assert ("campaign", "linkedin") in kinds
    assert ("email", "email") in kinds
    credits = {c.source: c for c in LeadCredit.objects.filter(lead_id=lead.pk, outcome="mql")}
    assert credits["email"].last == WHOLE
    assert sum(c.linear for c in credits.values()) == WHOLE

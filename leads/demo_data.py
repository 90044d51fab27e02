"""A deterministic generator of realistic leads, stage histories and activity streams.

Same seed + same anchor time -> the same rows, whatever the database. Stage histories walk the
lifecycle table (``leads.lifecycle.ALLOWED``) so generated data never holds a forbidden move.
"""

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.utils import translation

from leads.lifecycle import ALLOWED, EXIT_AFTER_ACCEPTANCE, ActorKind, Stage
from leads.models import ActivityKind, CompanySize, Seniority

FIRST = [
    "Ana",
    "Ben",
    "Chloé",
    "David",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Luca",
    "Maya",
    "Noah",
    "Aisha",
    "Ivan",
    "Sofia",
]
LAST = [
    "Silva",
    "Müller",
    "Dubois",
    "Rossi",
    "Kowalski",
    "Tanaka",
    "Okafor",
    "Haddad",
    "Jensen",
    "García",
    "Novak",
    "Fischer",
    "Kim",
    "Patel",
    "Schmidt",
    "Moreau",
    "Nakamura",
    "Larsen",
    "Costa",
    "Nguyen",
    "Berg",
    "Ivanova",
    "Walsh",
    "Romero",
    "Chen",
]
COMPANY_A = [
    "Blue",
    "North",
    "Apex",
    "Bright",
    "Iron",
    "Green",
    "Swift",
    "Quantum",
    "Silver",
    "Orbit",
    "Cedar",
    "Nova",
]
COMPANY_B = [
    "Logistics",
    "Analytics",
    "Health",
    "Foods",
    "Robotics",
    "Finance",
    "Energy",
    "Media",
    "Labs",
    "Retail",
]
INDUSTRIES = (
    "Software",
    "Manufacturing",
    "Healthcare",
    "Financial services",
    "Retail",
    "Education",
    "Logistics",
    "Media",
    "Energy",
    "Public sector",
)
COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "NL", "ES", "CA", "AU", "SE", "PL")
SOURCES = (
    ("organic_search", 30),
    ("paid_search", 20),
    ("social", 15),
    ("email", 10),
    ("referral", 8),
    ("direct_traffic", 7),
    ("webinar", 5),
    ("event", 5),
)
TITLES = {
    Seniority.ENTRY: "Analyst",
    Seniority.SENIOR: "Senior Engineer",
    Seniority.MANAGER: "Marketing Manager",
    Seniority.DIRECTOR: "Director of Operations",
    Seniority.VP: "VP Sales",
    Seniority.CXO: "CTO",
    Seniority.OWNER: "Founder",
}
PAGES = ("/", "/blog/lead-scoring", "/features", "/pricing", "/customers", "/docs/api")
ACTIVITY_KINDS = (
    (ActivityKind.PAGE_VIEW, 50),
    (ActivityKind.EMAIL_OPEN, 18),
    (ActivityKind.EMAIL_CLICK, 10),
    (ActivityKind.DOWNLOAD, 6),
    (ActivityKind.FORM_SUBMIT, 5),
    (ActivityKind.WEBINAR, 3),
    (ActivityKind.TRIAL, 2),
    (ActivityKind.MEETING, 2),
    (ActivityKind.EMAIL_BOUNCE, 1),
    (ActivityKind.UNSUBSCRIBE, 1),
)
# Probability of going one step further down the funnel from each stage.
ADVANCE = {
    Stage.SUSPECT: 0.7,
    Stage.LEAD: 0.45,
    Stage.MQL: 0.6,
    Stage.SAL: 0.55,
    Stage.SQL: 0.35,
}
NEXT = {
    Stage.SUSPECT: Stage.LEAD,
    Stage.LEAD: Stage.MQL,
    Stage.MQL: Stage.SAL,
    Stage.SAL: Stage.SQL,
    Stage.SQL: Stage.CUSTOMER,
}
SYSTEM_MOVES = {Stage.LEAD, Stage.MQL}
# Exits after acceptance name default exit reasons (leads migration 0021), weighted by repeats.
EXIT_CODES: dict[Stage, list[tuple[str, str]]] = {
    Stage.NURTURE: [
        ("lost_competitor", "Lost to a competitor"),
        ("lost_competitor", "Lost to a competitor"),
        ("no_decision", "No decision, went quiet"),
        ("no_decision", "No decision, went quiet"),
        ("lost_price", "Lost on price"),
        ("no_budget", "No budget"),
    ],
    Stage.DISQUALIFIED: [
        ("wrong_industry", "Wrong industry"),
        ("wrong_industry", "Wrong industry"),
        ("duplicate", "Duplicate"),
        ("competitor", "Competitor"),
    ],
}
# Side paths a lead can come back from (``reopen``): re-engaged, reopened by a person.
REOPEN = {Stage.NURTURE: Stage.MQL, Stage.DISQUALIFIED: Stage.NURTURE}


@dataclass
class GeneratedLead:
    row: dict[str, Any]
    history: list[tuple[str, str, str, str, datetime, str]] = field(default_factory=list)
    # (from, to, actor_kind, reason, at, exit reason code)
    activities: list[tuple[str, str, datetime, dict[str, Any]]] = field(default_factory=list)
    # (kind, name, occurred_at, properties)


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def generate(
    *,
    seed: int,
    count: int,
    activities_per_lead: float,
    anchor: datetime,
    owners: Sequence[int],
    start_index: int = 0,
    reopen: float = 0.0,
    companies: int | None = None,
) -> Iterator[GeneratedLead]:
    """Yield ``count`` leads. ``start_index`` lets a resumed run continue the same sequence.

    ``reopen``: the chance that a lead in Nurture re-engages (back to MQL) and that a
    disqualified one is reopened to Nurture, each time it lands there — longer, recycled
    histories. 0 (the default) draws nothing extra, so older seeds give the same rows.

    ``companies``: people work at that many companies (B2B accounts), a few large and many small
    (several leads per company domain, each company with one industry, size and country), and
    about one in seven gives a free-mail address instead. None (the default) keeps the older
    one-company-per-lead rows.
    """
    for index in range(start_index, start_index + count):
        rng = random.Random(seed * 1_000_003 + index)  # per-lead stream: chunks are independent
        lead = _one(rng, index, seed, activities_per_lead, anchor, owners, reopen)
        if companies:
            _at_company(lead, random.Random(seed * 1_000_033 + index + 17), companies)
        yield lead


def _one(
    rng: random.Random,
    index: int,
    seed: int,
    per_lead: float,
    anchor: datetime,
    owners: Sequence[int],
    reopen: float,
) -> GeneratedLead:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}"
    domain = company.lower().replace(" ", "") + f"{index % 997}.example"
    seniority = rng.choice(list(Seniority))
    created = anchor - timedelta(days=rng.uniform(1, 365))
    source = _weighted(rng, SOURCES)
    row = {
        "email": f"{first.lower()}.{last.lower()}.{index}.s{seed}@{domain}",
        "first_name": first,
        "last_name": last,
        "job_title": TITLES[seniority],
        "seniority": seniority.value,
        "company": company,
        "domain": domain,
        "industry": rng.choice(INDUSTRIES),
        "company_size": rng.choice(list(CompanySize)).value,
        "country": rng.choice(COUNTRIES),
        "source": source,
        "utm_source": source,
        "utm_medium": "cpc" if source == "paid_search" else "",
        "utm_campaign": f"campaign-{rng.randint(1, 12)}" if rng.random() < 0.4 else "",
        "created_at": created,
        "owner_id": None,
    }
    lead = GeneratedLead(row=row)
    _walk_history(rng, lead, created, anchor, owners, reopen)
    n = max(0, round(rng.expovariate(1 / per_lead))) if per_lead else 0
    span = max((anchor - created).total_seconds(), 60.0)
    for _ in range(n):
        kind = _weighted(rng, ACTIVITY_KINDS)
        at = created + timedelta(seconds=rng.uniform(0, span))
        props: dict[str, Any] = {}
        if kind == ActivityKind.PAGE_VIEW:
            props = {"url": rng.choice(PAGES)}
        elif kind in (ActivityKind.EMAIL_OPEN, ActivityKind.EMAIL_CLICK):
            props = {"campaign": f"newsletter-{rng.randint(1, 24)}"}
        elif kind == ActivityKind.DOWNLOAD:
            props = {"asset": rng.choice(("ebook-scoring", "whitepaper-sla", "roi-calculator"))}
        lead.activities.append((kind.value, _activity_names()[kind], at, props))
    lead.activities.sort(key=lambda a: a[2])
    return lead


FREE_MAIL = ("gmail.com", "gmx.de", "web.de", "seznam.cz", "freemail.hu", "outlook.com")


def _at_company(lead: GeneratedLead, rng: random.Random, companies: int) -> None:
    """Move the lead to company ``no`` (skewed: low numbers, the large accounts, come often),
    from its own random stream, so the rest of the lead stays as without companies."""
    no = int(companies * rng.random() ** 2)
    name = f"{COMPANY_A[no % len(COMPANY_A)]} {COMPANY_B[(no // len(COMPANY_A)) % len(COMPANY_B)]}"
    series = no // (len(COMPANY_A) * len(COMPANY_B))
    if series:
        name = f"{name} {series + 1}"
    domain = name.lower().replace(" ", "") + ".example"
    row = lead.row
    if rng.random() < 0.15:  # a private address: the person, not the company, is known
        domain = FREE_MAIL[no % len(FREE_MAIL)]
    local = row["email"].split("@", 1)[0]
    row.update(
        email=f"{local}@{domain}",
        company=name,
        domain=domain,
        industry=INDUSTRIES[no % len(INDUSTRIES)],
        company_size=list(CompanySize)[(no * 7) % len(CompanySize)].value,
        country=COUNTRIES[(no * 5) % len(COUNTRIES)],
    )


@cache
def _activity_names() -> dict[str, str]:
    """Each activity kind's label, the generated activity's name: in English, whatever language
    is active (demo data is English, and a COPY takes no lazy text)."""
    with translation.override(None):  # the source text itself
        return {kind.value: str(kind.label) for kind in ActivityKind}


def _walk_history(
    rng: random.Random,
    lead: GeneratedLead,
    created: datetime,
    anchor: datetime,
    owners: Sequence[int],
    reopen: float,
) -> None:
    stage, at = Stage.SUSPECT, created
    lead.history.append(("", stage.value, ActorKind.SYSTEM.value, "created", at, ""))
    while stage in NEXT or (stage in REOPEN and reopen and rng.random() < reopen):
        at = at + timedelta(hours=rng.uniform(1, 24 * 20))
        if at >= anchor:
            break
        if stage in REOPEN:
            to = REOPEN[stage]
        elif rng.random() < ADVANCE[stage]:
            to = NEXT[stage]
        else:
            exits = [s for s in (Stage.NURTURE, Stage.DISQUALIFIED) if s in ALLOWED[stage]]
            if not exits or rng.random() < 0.5:
                break  # stays open in its stage
            to = rng.choice(exits)
        kind = ActorKind.SYSTEM if to in SYSTEM_MOVES else ActorKind.SALES_REP
        if stage in REOPEN:
            kind = ActorKind.MARKETER  # re-engaged, or reopened by a person
        elif to in (Stage.NURTURE, Stage.DISQUALIFIED):
            kind = (
                ActorKind.SALES_REP
                if stage in (Stage.MQL, Stage.SAL, Stage.SQL)
                else ActorKind.MARKETER
            )
        assert kind in ALLOWED[stage][to]  # noqa: S101  (the generator obeys the table)
        reason = {Stage.NURTURE: "not ready yet", Stage.DISQUALIFIED: "no budget"}.get(to, "")
        code = ""
        if (stage, to) in EXIT_AFTER_ACCEPTANCE:  # named like a rep would (picked from the
            # time, not the generator: the rest of the data stays what it was for a seed)
            options = EXIT_CODES[to]
            code, reason = options[int(at.timestamp()) % len(options)]
        lead.history.append((stage.value, to.value, kind.value, reason, at, code))
        if to == Stage.MQL and owners:
            lead.row["owner_id"] = owners[rng.randrange(len(owners))]
        stage = to
    lead.row["stage"] = stage.value
    lead.row["stage_changed_at"] = lead.history[-1][4]

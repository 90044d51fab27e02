"""Screenshots of every page each role works on, for the user guide and README (docs/screenshots/).

Builds a throw-away SQLite demo (seed_demo, the published demo scoring model, handover demo, a
few MQLs handed over, tasks, a duplicate pair, a webhook with a delivery log, an API key, report
rollups), starts `manage.py runserver` on 127.0.0.1, and drives Debian's Chromium with
Playwright, logged in as each demo user (password ``leadflow-demo``): marketer, rep1, manager,
admin. Pages are 1440 px wide; the board, a lead page and the inbox also at 390 px (phone).
File names are ``<role>-<page>.png``, stable, one per page or state (docs/user-guide.md).

    .venv/bin/python bench/ui/screenshots.py            # writes docs/screenshots/*.png
    LEADFLOW_SHOTS=admin-gdpr-request,admin-audit-log .venv/bin/python bench/ui/screenshots.py

Each PNG is cut to at most MAX_HEIGHT pixels and reduced to 256 colours (Pillow, when present),
which keeps the folder at a few MB. Nothing leaves the machine: the demo webhook listens only to
SLA events (none fire while shooting) and its delivery log is written directly; the server is
stopped at the end.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
PORT = int(os.environ.get("LEADFLOW_SCREENSHOT_PORT", "8765"))
CHROMIUM = os.environ.get("LEADFLOW_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "leadflow-demo"  # noqa: S105 (the demo accounts' documented password)
WIDE, PHONE = 1440, 390
MAX_HEIGHT = 2200  # a full-page shot is cut here: the top of a long page is what a reader needs


def prepare(env: dict[str, str]) -> None:
    manage = [sys.executable, str(ROOT / "manage.py")]
    for args in (
        ["migrate", "-v0"],
        ["seed_demo", "--leads", "400"],
        ["seed_scoring_demo"],  # publishes the demo model: every lead is scored for real
        ["seed_accounts_demo"],  # tiers and owners for the largest generated accounts
        # the account sweep the worker's beat would run: every account scored
        ["shell", "-c", "from scoring.services import account_scores_sweep as s; s()"],
        ["seed_handover_demo"],
        ["create_api_key", "--name", "crm-sync", "--scopes", "leads:read", "leads:write"],
        ["shell", "-c", DEMO_SNIPPET],
        ["seed_capture_demo", "--origin", "https://www.example.com"],
        ["shell", "-c", CAPTURE_SNIPPET],
        ["reports_rebuild"],
        ["attribution_rebuild"],
        ["seed_money_demo"],
    ):
        subprocess.run([*manage, *args], env=env, check=True, cwd=ROOT)  # noqa: S603


# MQLs handed over (one accepted), notes and tasks, a duplicate pair, a webhook with deliveries:
# so every page has something to show. Writes the ids the browser needs to LEADFLOW_SHOT_LEAD.
DEMO_SNIPPET = """
import json, os
from datetime import timedelta
from django.utils import timezone
from leads.models import Lead, Stage
from leads.services import lead_create, lead_mark_mql, note_add, task_add
from leadflow.models import User
from handover.services import handover_accept
from handover.models import (BusinessCalendarConfig, Delivery, DeliveryAttempt, Handover,
    OutOfOffice, RepProfile, WebhookEvent, WebhookSubscription)
now = timezone.now()
for lead in Lead.objects.filter(stage="lead").order_by("-id")[:8]:
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
rep1, rep2 = User.objects.get(username="rep1"), User.objects.get(username="rep2")
marketer = User.objects.get(username="marketer")
first = Handover.objects.filter(  # a scored lead (the overdue demo MQL stays in the inbox)
    status="open", owner=rep1, lead__scored_at__isnull=False).order_by("id").first()
if first is not None:
    handover_accept(handover_id=first.pk, actor=rep1)
lead = Lead.objects.filter(stage="mql", scored_at__isnull=False).order_by("-score").first()
note_add(lead_id=lead.pk, author=marketer, body="Asked for pricing at the webinar; wants a demo.")
task_add(lead_id=lead.pk, created_by=marketer, title="Send the case study",
         due_at=now + timedelta(days=2))
# the reps' follow-ups: overdue, today, upcoming (My tasks; the manager's team view)
for rep, titles in ((rep1, ("Call back about pricing", "Send the proposal", "Check in after the trial")),
                    (rep2, ("Book the demo", "Confirm the budget owner", "Share the security answers"))):
    leads = list(Lead.objects.filter(owner=rep).order_by("-score")[:3])
    for mine, title, due in zip(leads, titles, (now - timedelta(hours=3), now + timedelta(minutes=50), now + timedelta(days=3))):
        task_add(lead_id=mine.pk, created_by=rep, title=title, due_at=due, assignee=rep)
person = Lead.objects.filter(stage="lead", email__isnull=False).exclude(pk=lead.pk).order_by("id").first()
note_add(lead_id=person.pk, author=marketer, body="Asked us to delete her data (e-mail of 3 Dec).")
# a duplicate pair: the same phone and company, two spellings of the name
for email, first_name in (("jon.baker@northwind.example", "Jon"), ("jonathan.baker@northwind.example", "Jonathan")):
    lead_create(data={"email": email, "first_name": first_name, "last_name": "Baker",
                      "company": "Northwind Traders", "phone": "+49 30 5550 1234", "source": "trade-fair"})
# the reps' working calendar, and Raj's holiday next week (Settings: availability, out of office)
calendar = BusinessCalendarConfig.objects.order_by("id").first()
for rep in (rep1, rep2):
    RepProfile.objects.update_or_create(user=rep, defaults={"calendar": calendar})
start = (now + timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
OutOfOffice.objects.create(user=rep2, starts_at=start, ends_at=start + timedelta(days=5),
                           note="Holiday")
# won deals have a value (the Sources report's revenue)
for i, won in enumerate(Lead.objects.filter(stage="customer").order_by("id")):
    Lead.objects.filter(pk=won.pk).update(deal_value=4000 + 1500 * (i % 7))
# a webhook for the SLA events and its delivery log (written directly: nothing is sent)
sub = WebhookSubscription.objects.create(url="https://crm.example.com/hooks/leadflow",
    description="CRM: SLA alerts", event_types=["sla.warning", "sla.breached"])
for i, (status, attempts, code, error) in enumerate((
        ("delivered", 1, 200, ""), ("delivered", 2, 200, ""),
        ("pending", 2, 503, "HTTP 503 Service Unavailable"), ("dead", 8, 500, "HTTP 500 Internal Server Error"))):
    at = now - timedelta(hours=6 - i)
    event = WebhookEvent.objects.create(type="sla.breached" if i % 2 else "sla.warning",
        payload={"lead_id": lead.pk}, created_at=at)
    d = Delivery.objects.create(channel="webhook", status=status, event=event, subscription=sub,
        attempts=attempts, next_attempt_at=at + timedelta(minutes=30), created_at=at,
        delivered_at=at if status == "delivered" else None, last_error=error)
    for n in range(1, attempts + 1):
        ok = status == "delivered" and n == attempts
        DeliveryAttempt.objects.create(delivery=d, number=n, started_at=at, duration_ms=120, ok=ok,
            status_code=200 if ok else code if error else 503, error="" if ok else (error or "HTTP 503"))
print("lead for the screenshots:", lead.pk)
stale = Lead.objects.filter(stage="lead").exclude(pk=person.pk).order_by("id").first()
open(os.environ["LEADFLOW_SHOT_LEAD"], "w").write(json.dumps({
    "lead": lead.pk, "email": person.email, "webhook": sub.pk, "sal": first.lead_id,
    "rep_word": first.lead.company.split()[0], "rep2": rep2.pk,
    "stale": stale.pk}))
"""

# Lead capture (docs/capture.md): the demo form gets a fortnight of views and starts (FormDay, what
# the embed reports), submissions sent through the real submit services (new leads and one known
# lead whose differing answers become proposed changes), and a few rejections; a second form, still
# a draft, so the list has two rows. Adds the form's id to LEADFLOW_SHOT_LEAD.
CAPTURE_SNIPPET = """
import json, os
from datetime import timedelta
from django.utils import timezone
from capture.analytics import site_today
from capture.editing import consent_change
from capture.models import Form, FormDay, FormField, Rejection, Submission
import capture.submit as capture_submit
from capture.submit import submission_process, submission_receive, submission_validate
capture_submit._enqueue = lambda submission_id: None  # stored right here, no worker needed
from leads.models import Lead
form = Form.objects.get(public_id="demo-whitepaper")
today = site_today()
for n in range(14):
    FormDay.objects.update_or_create(form=form, day=today - timedelta(days=n),
        defaults={"views": 40 + (n * 7) % 23, "starts": 12 + (n * 5) % 9})
from leads.services import lead_create
known = lead_create(data={"email": "ann.fischer@kumo.example", "first_name": "Ann",
    "last_name": "Fischer", "company": "Kumo Logistics", "source": "trade-fair"})
visitors = [
    ("mia.keller@alpenhof.example", "Mia", "Keller", "Alpenhof Hotels", "newsletter", "spring-launch"),
    ("li.wei@harbour.example", "Li", "Wei", "Harbour Freight", "linkedin", "scoring-guide"),
    ("sam.ortiz@brightpath.example", "Sam", "Ortiz", "Brightpath", "google", "scoring-guide"),
    ("nora.berg@fjell.example", "Nora", "Berg", "Fjell Energy", "newsletter", "spring-launch"),
    ("tom.ashby@quill.example", "Tom", "Ashby", "Quill & Co", "linkedin", "scoring-guide"),
    (known.email, "Ann", "Fischer-Lang", "Kumo Group", "google", "scoring-guide"),
]
version = form.consent_texts.get(key="newsletter", retired=False).version
for i, (email, first, last, company, source, campaign) in enumerate(visitors):
    data = {"email": email, "firstName": first, "lastName": last, "company": company,
            "utm_source": source, "utm_campaign": campaign,
            "lf_page": f"https://www.example.com/whitepaper?utm_source={source}&utm_campaign={campaign}"}
    if i % 2 == 0:
        data["consent.newsletter"] = str(version)
    sub = submission_receive(form=form, cleaned=submission_validate(form, data), ip="203.0.113.%d" % (10 + i))
    submission_process(submission_id=sub.pk)
    if i == 2:  # the newsletter text changes: version 2 from now on, version 1 kept for its records
        version = consent_change(form_id=form.pk, key="newsletter", channel="email", text=(
            "Yes, send me LeadFlow's monthly newsletter with scoring tips and event invitations. "
            "I can withdraw this consent at any time with the link in every e-mail.")).version
    Submission.objects.filter(pk=sub.pk).update(created_at=timezone.now() - timedelta(days=i * 2, hours=3))
for reason, detail, ip, origin, excerpt in (
    ("honeypot", "lf_website", "198.51.100.7", "https://www.example.com",
     '{"email": "win@prize.example", "lf_website": "http://cheap-pills.example"}'),
    ("too_fast", "too_fast (0.4 s)", "198.51.100.23", "https://www.example.com",
     '{"email": "bot@spam.example", "firstName": "aaaa", "lf_token": "WyJkZW1vLXdoaXRlcGFwZXIi..."}'),
    ("origin", "Origin https://evil.example is not among the form's allowed origins.", "192.0.2.44",
     "https://evil.example", '{"email": "someone@example.org"}'),
    ("rate_limited", "Over the rate limit; later refusals in this window are not logged.",
     "198.51.100.23", "https://www.example.com", "email=bot9%40spam.example&firstName=x"),
    ("challenge", "no_proof (5.2 s)", "203.0.113.99", "https://www.example.com",
     '{"email": "x@y.example", "lf_token": "WyJkZW1vLXdoaXRlcGFwZXIi...", "lf_proof": ""}'),
    ("invalid", '{"email": ["Enter a valid e-mail address."]}', "203.0.113.5",
     "https://www.example.com", "email=jane.doe%40&firstName=Jane"),
):
    Rejection.objects.create(form=form, reason=reason, detail=detail, ip=ip, origin=origin, excerpt=excerpt)
draft = Form.objects.create(name="Contact sales", allowed_origins="https://www.example.com")
FormField.objects.create(form=draft, trait="email", kind="email", label="E-mail", required=True)
path = os.environ["LEADFLOW_SHOT_LEAD"]
ids = json.loads(open(path).read())
ids["capture_form"] = form.pk
ids["capture_public_id"] = form.public_id
open(path, "w").write(json.dumps(ids))
"""

# A small CSV for the import walkthrough: two good rows, one with a bad e-mail.
IMPORT_CSV = (
    "Email,First name,Last name,Company,Country,Job title\n"
    "hana.sato@kumo.example,Hana,Sato,Kumo Logistics,JP,Head of Operations\n"
    "peter.lind@fjord.example,Peter,Lind,Fjord Analytics,NO,CTO\n"
    "not-an-address,Broken,Row,Nowhere Ltd,GB,Buyer\n"
)


def wait_for_server(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own loopback server)
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server at {url} did not start")


WANTED = {n for n in os.environ.get("LEADFLOW_SHOTS", "").split(",") if n}
WRITTEN: list[Path] = []


# Titles of pages a screenshot must never show: it would be a login or error page, not the page
# the guide describes (Django's debug pages have no "· LeadFlow" at all).
WRONG_PAGES = ("Log in ·", "Not allowed ·", "Not found ·", "Form expired ·", "Too many failed")


def check_page(page: Any, name: str) -> None:
    title = page.title()
    # (the error pages' card, in any language: a German 403 once passed as "the funnel report")
    if (
        "LeadFlow" not in title
        or title.startswith(WRONG_PAGES)
        or page.locator(".error-page").count()
    ):
        raise SystemExit(f"{name}: the browser shows {title!r} at {page.url}, not the page meant")


def snap(page: Any, name: str, full_page: bool = False) -> None:
    """docs/screenshots/<name>.png, unless LEADFLOW_SHOTS names others."""
    check_page(page, name)
    if not WANTED or name in WANTED:
        path = OUT / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page, caret="initial")
        WRITTEN.append(path)


def snap_part(locator: Any, name: str) -> None:
    """One part of a page (a section), as snap does for the whole page."""
    check_page(locator.page, name)
    if not WANTED or name in WANTED:
        path = OUT / f"{name}.png"
        locator.screenshot(path=str(path), caret="initial")
        WRITTEN.append(path)


def go(page: Any, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")


def shoot(base: str, ids: dict[str, Any], csv_path: str) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )

        def session(username: str, width: int = WIDE) -> tuple[Any, Any]:
            context = browser.new_context(viewport={"width": width, "height": 900}, base_url=base)
            page = context.new_page()
            page.goto("/accounts/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_load_state("networkidle")
            return context, page

        for role, day in (
            ("marketer", accounts_day),
            ("marketer", capture_day),
            ("marketer", marketer_day),
            ("rep1", rep_day),
            ("rep1", rep_accounts_day),
            ("manager", manager_day),
            ("admin", admin_day),
        ):
            context, page = session(role)
            day(page, ids, csv_path)
            context.close()

        # languages (docs/i18n.md): each chosen on the profile page, then back to English
        for role, language, zone, shots in (
            (
                "rep1",
                "hu",
                "Europe/Budapest",
                (("/handover/inbox/", "hu-rep-inbox"), (f"/leads/{ids['sal']}/", "hu-rep-lead")),
            ),
            (
                "marketer",
                "de",
                "Europe/Berlin",
                (
                    ("/leads/board/", "de-marketer-board"),
                    ("/reports/funnel/", "de-marketer-report"),
                ),
            ),
        ):
            context, page = session(role)
            choose_language(page, language, zone)
            if language == "de":
                snap(page, "de-profile")
            for path, name in shots:
                go(page, path)
                snap(page, name)
            choose_language(page, "en", "")
            context.close()

        # phones: the top bar folds into a Menu button
        for role, path, name in (
            ("marketer", "/leads/board/", "phone-board"),
            ("rep1", "/handover/inbox/", "phone-inbox"),
            ("rep1", f"/leads/{ids['sal']}/", "phone-lead"),
        ):
            context, page = session(role, width=PHONE)
            go(page, path)
            if name == "phone-board":
                page.locator("#col-suspect").evaluate(  # the cards, not the filters
                    "el => window.scrollTo({top: el.getBoundingClientRect().top + scrollY - 16,"
                    " behavior: 'instant'})"
                )
                page.wait_for_timeout(300)
            snap(page, name)
            if name == "phone-inbox":
                page.get_by_role("button", name="Menu").click()
                snap(page, "phone-menu")
            context.close()
        browser.close()


def choose_language(page: Any, language: str, zone: str) -> None:
    go(page, "/accounts/profile/")
    page.locator("#id_language").select_option(language)
    page.locator("#id_time_zone").select_option(zone)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state("networkidle")


def marketer_day(page: Any, ids: dict[str, Any], csv_path: str) -> None:
    go(page, "/leads/board/")
    snap(page, "marketer-board", full_page=True)
    # a Lead card's "Move to…" Nurture: the reason is asked first (Cancel puts the card back)
    card = page.locator("#col-lead").locator("xpath=..").locator(".card-move").first
    card.locator("select").select_option("nurture")
    card.get_by_role("button").click()
    page.locator("#reason-text").fill("Student, no budget")
    snap(page, "marketer-board-move-reason")
    page.locator("#reason-cancel").click()
    go(page, "/leads/list/?sort=-score")
    snap(page, "marketer-list")
    go(page, "/leads/search/?q=logistics")
    snap(page, "marketer-search")
    # bulk: two Suspects and an MQL ticked, "Move to Lead": two done, the MQL refused (why)
    go(page, "/leads/list/?stage=suspect&stage=mql&sort=-score")
    rows = page.locator("table tbody tr")
    for stage, count in (("Suspect", 2), ("MQL", 1)):
        of_stage = rows.filter(has=page.locator("td:nth-child(4)", has_text=stage))
        for i in range(count):
            of_stage.nth(i).locator("input[type=checkbox]").check()
    page.locator("#bulk-to").select_option("lead")
    page.locator("#bulk-to").scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, 0)")
    snap(page, "marketer-bulk-move")
    page.get_by_role("button", name="Move", exact=True).click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-bulk-result")
    # the lead page; a stale move is refused (someone moved the lead meanwhile)
    go(page, f"/leads/{ids['lead']}/")
    snap(page, "marketer-lead", full_page=True)
    go(page, "/leads/new/")  # a known e-mail: refused, with a link to that lead
    page.get_by_label("First name").fill("Olivia")
    page.get_by_label("E-mail").fill("overdue.mql@demo.test")
    page.get_by_role("button", name="Create lead").click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-lead-new")
    # scoring: the models, the published version, a new draft and its dry run
    go(page, "/scoring/")
    snap(page, "marketer-scoring-models")
    page.locator("table a").first.click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-scoring-model")
    snap_part(
        page.locator("section.card", has=page.locator("#precision-h")), "marketer-scoring-precision"
    )
    page.get_by_role("button", name="New draft from this version").click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-scoring-draft")
    page.get_by_label("Lead → MQL at total ≥").fill("40")  # a lower bar: more MQLs
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Dry run").click()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # the run's progress polls until it is done
    snap(page, "marketer-scoring-dry-run", full_page=True)
    page.get_by_role("link", name="See the leads that would move").click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-scoring-dry-run-leads", full_page=True)
    # imports: upload, map and preview, import
    go(page, "/privacy/imports/new/")
    page.locator("input[type=file]").set_input_files(csv_path)
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-import-preview", full_page=True)
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)
    snap(page, "marketer-import-done", full_page=True)
    go(page, "/privacy/imports/")
    snap(page, "marketer-imports")
    # the marketing reports they see
    go(page, "/reports/")
    snap(page, "marketer-reports")
    # duplicates: scan, review a pair
    go(page, "/privacy/duplicates/")
    page.get_by_role("button", name="Scan for duplicates now").click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-duplicates")
    page.get_by_role("link", name="Review").first.click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-duplicate-review", full_page=True)


def accounts_day(page: Any, ids: dict[str, Any], csv_path: str) -> None:
    """Accounts (docs/accounts.md): the list, the largest account, a member's lead page with its
    Account panel, the edit form refusing a free-mail domain."""
    go(page, "/companies/?tier=1")
    snap(page, "marketer-accounts")
    page.locator(".accounts-table tbody a").first.click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-account", full_page=True)
    account_url = page.url
    page.locator("#members-h").locator("xpath=..").locator("tbody a").first.click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-lead-account-panel")
    page.goto(account_url + "edit/")
    page.get_by_label("Domains").fill("gmail.com")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    snap(page, "marketer-account-refused")


def rep_accounts_day(page: Any, ids: dict[str, Any], csv_path: str) -> None:
    """A rep's marketing-qualified account (docs/accounts.md, user guide): the list filtered to
    MQA and the first one's page with its Marketing-qualified panel."""
    go(page, "/companies/?mqa=true")
    snap(page, "rep-accounts-mqa")
    page.locator(".accounts-table tbody tr", has_text="Rita Rep").locator("a").first.click()
    page.wait_for_load_state("networkidle")
    page.locator("#account-mqa").scroll_into_view_if_needed()
    snap(page, "rep-account-mqa")


def capture_day(page: Any, ids: dict[str, Any], csv_path: str) -> None:
    """Lead capture (docs/capture.md): the forms list, one form's tabs, the form as a visitor
    sees it in the iframe (a LeadFlow page without the app's chrome)."""
    form = ids["capture_form"]
    go(page, "/capture/")
    snap(page, "marketer-capture-forms")
    go(page, f"/capture/{form}/")
    snap(page, "marketer-capture-settings", full_page=True)
    go(page, f"/capture/{form}/fields/")
    snap(page, "marketer-capture-fields", full_page=True)
    go(page, f"/capture/{form}/consents/")
    snap(page, "marketer-capture-consents", full_page=True)
    go(page, f"/capture/{form}/embed/")
    snap(page, "marketer-capture-embed", full_page=True)
    go(page, f"/capture/{form}/submissions/")
    snap(page, "marketer-capture-submissions", full_page=True)
    go(page, f"/capture/{form}/rejections/")
    snap(page, "marketer-capture-rejections", full_page=True)
    go(page, f"/capture/{form}/analytics/")
    snap(page, "marketer-capture-analytics", full_page=True)
    # the visitor's view: the iframe page at a typical embed width
    visitor = page.context.browser.new_context(viewport={"width": 560, "height": 900})
    frame = visitor.new_page()
    frame.goto(f"{base_of(page)}/f/{ids['capture_public_id']}/frame?utm_source=newsletter")
    frame.wait_for_load_state("networkidle")
    name = "visitor-capture-frame"
    if frame.locator("form.lf-form").count() != 1:
        raise SystemExit(f"{name}: no form at {frame.url}")
    if not WANTED or name in WANTED:
        path = OUT / f"{name}.png"
        frame.screenshot(path=str(path), full_page=True, caret="initial")
        WRITTEN.append(path)
    visitor.close()


def base_of(page: Any) -> str:
    parts = page.url.split("/", 3)
    return "/".join(parts[:3])


def rep_day(page: Any, ids: dict[str, Any], csv_path: str) -> None:
    go(page, "/handover/inbox/")
    snap(page, "rep-inbox")
    rows = page.locator(".inbox-row[data-handover]")
    if rows.count() > 1:
        rows.nth(1).get_by_role("button", name="Reject…").click()
        page.get_by_label("Reason").select_option("not_ready")
        page.get_by_label("Comment").fill("Budget opens in Q3")
        snap(page, "rep-inbox-reject")
        page.get_by_role("button", name="Cancel").click()
        row = rows.first
        row.get_by_role("button", name="Accept").click()
        page.wait_for_timeout(800)
        snap(page, "rep-inbox-accepted")
    go(page, "/handover/notifications/")
    snap(page, "rep-notifications")
    go(page, "/leads/tasks/")
    snap(page, "rep-my-tasks")
    # the accepted lead: page, log a call, qualify
    go(page, f"/leads/{ids['sal']}/")
    snap(page, "rep-lead", full_page=True)
    # the deal's expected value, in forints
    page.get_by_text("Edit deal").click()
    page.get_by_label("Expected value").fill("4500000")
    page.get_by_label("Currency").select_option("HUF")
    page.get_by_role("button", name="Save deal").click()
    page.wait_for_timeout(800)
    snap_part(page.locator("#deal-section"), "rep-lead-deal")
    page.get_by_text("Log a call, meeting or e-mail").click()
    page.get_by_label("What").select_option(label="Call")
    page.get_by_label("Outcome").select_option("connected")
    page.get_by_label("Minutes").fill("12")
    page.get_by_label("Notes").fill("Needs SSO; budget owner is the CFO. Demo next Tuesday.")
    snap_part(page.locator("#timeline-section"), "rep-log-call")
    page.get_by_role("button", name="Log it").click()
    page.wait_for_timeout(800)
    snap_part(page.locator("#timeline-section"), "rep-logged-call")
    go(page, f"/handover/leads/{ids['sal']}/qualify/")
    page.locator("#met_budget").check()
    page.locator("#met_authority").check()
    page.get_by_label("Note on Budget").fill("Approved for Q1")
    page.get_by_label("Note on Authority").fill("CFO signs")
    page.get_by_role("button", name="Save and qualify").click()
    page.wait_for_load_state("networkidle")
    snap(page, "rep-qualify-missing", full_page=True)
    go(page, f"/handover/leads/{ids['sal']}/qualify/?framework=champ")
    snap(page, "rep-qualify-champ", full_page=True)
    go(page, f"/handover/leads/{ids['sal']}/qualify/")
    page.locator("#met_need").check()
    page.get_by_label("Note on Need").fill("Manual routing costs them two people")
    snap(page, "rep-qualify", full_page=True)
    page.get_by_role("button", name="Save and qualify").click()
    page.wait_for_load_state("networkidle")
    snap(page, "rep-qualified")
    # the SQL is lost: it leaves with an exit reason
    go(page, f"/leads/{ids['sal']}/")
    page.locator("#move-to").select_option("nurture")
    page.locator("#move-reason-code").select_option("lost_competitor")
    page.locator("#move-reason").fill("Chose Acme: cheaper SSO")
    snap_part(page.locator("section.card", has=page.locator("#move-h")), "rep-lead-exit")
    page.get_by_role("button", name="Move lead").click()
    page.wait_for_load_state("networkidle")
    go(page, "/leads/search/?q=" + ids["rep_word"])
    snap(page, "rep-search")


def manager_day(page: Any, ids: dict[str, Any], csv_path: str) -> None:
    go(page, "/reports/team/")
    snap(page, "manager-team")
    go(page, "/handover/inbox/")
    snap(page, "manager-inbox-teams")
    go(page, "/handover/inbox/?owner=none")
    snap(page, "manager-inbox-queue")
    go(page, f"/handover/inbox/?owner={ids['rep2']}")
    snap(page, "manager-inbox-rep")
    page.locator(".inbox-row[data-handover] a.lead-name").first.click()
    page.wait_for_load_state("networkidle")
    page.locator("#reassign-owner").scroll_into_view_if_needed()
    page.locator("#reassign-owner").select_option(label="Rita Rep")
    snap(page, "manager-lead-reassign")
    go(page, "/leads/tasks/?view=team")
    snap(page, "manager-team-tasks")
    # bulk assign: the unassigned MQLs of the list to a rep
    go(page, "/leads/list/?stage=lead&sort=-score")
    boxes = page.locator("table input[type=checkbox][name=lead]")
    for i in range(min(4, boxes.count())):
        boxes.nth(i).check()
    page.locator("#bulk-owner").select_option(label="Raj Rep")
    snap(page, "manager-bulk-assign")
    go(page, "/reports/")
    snap(page, "manager-reports")
    for slug in (
        "funnel",
        "cohort",
        "velocity",
        "sla",
        "sources",
        "exits",
        "accounts-mqa",
        "accounts-coverage",
        "accounts-pipeline",
        "attribution",
        "pipeline",
        "roi",
        "ltv",
    ):
        go(page, f"/reports/{slug}/")
        page.wait_for_timeout(800)  # the chart's entry animation
        snap(page, f"manager-report-{slug}")
    go(page, "/reports/attribution/?outcome=revenue&attribution_by=channel_campaign")
    page.wait_for_timeout(800)
    snap(page, "manager-report-attribution-revenue", full_page=True)
    # a stale move: the page was loaded before someone else moved the lead
    go(page, f"/leads/{ids['stale']}/")
    move_elsewhere(ids["stale"])
    page.locator("#move-to").select_option("nurture")
    page.locator("#move-reason").fill("Not this quarter")
    page.get_by_role("button", name="Move lead").click()
    page.wait_for_load_state("networkidle")
    snap(page, "manager-move-conflict")


def move_elsewhere(lead_id: int) -> None:
    """The marketer moves the lead to Disqualified in another process, as a colleague would."""
    snippet = (
        "from leads.services import lead_move\nfrom leadflow.models import User\n"
        f"lead_move(lead_id={lead_id}, to='disqualified', "
        "actor=User.objects.get(username='marketer'), source='ui', reason='Competitor')"
    )
    subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", snippet],
        env=ENV,
        check=True,
        cwd=ROOT,
    )


def admin_day(page: Any, ids: dict[str, Any], csv_path: str) -> None:
    go(page, "/settings/")
    snap(page, "admin-settings")
    for path, name in (
        ("users", "users"),
        ("teams", "teams"),
        ("sla-policies", "sla"),
        ("calendars", "calendars"),
        ("assignment-rules", "assignment"),
        ("rep-profiles", "availability"),
        ("out-of-office", "out-of-office"),
        ("rejection-reasons", "rejection-reasons"),
        ("exit-reasons", "exit-reasons"),
        ("frameworks", "frameworks"),
        ("tags", "tags"),
        ("channel-rules", "channel-rules"),
        ("exchange-rates", "exchange-rates"),
        ("spend", "spend"),
        ("custom-fields", "custom-fields"),
        ("trait-mappings", "trait-mappings"),
        ("webhooks", "webhooks"),
    ):
        go(page, f"/settings/{path}/")
        snap(page, f"admin-settings-{name}")
    go(page, "/settings/sla-policies/")
    page.get_by_role("link", name="Edit").first.click()
    page.wait_for_load_state("networkidle")
    snap(page, "admin-settings-sla-edit", full_page=True)
    go(page, "/settings/assignment-rules/")
    page.get_by_role("link", name="Edit").first.click()
    page.wait_for_load_state("networkidle")
    snap(page, "admin-settings-assignment-edit", full_page=True)
    go(page, "/settings/users/new/")
    snap(page, "admin-settings-user-new", full_page=True)
    # a custom field, and what changing its type would do to the values (previewed, not applied)
    go(page, "/settings/custom-fields/")
    page.get_by_role("link", name="Edit ERP in use").click()
    page.wait_for_load_state("networkidle")
    snap(page, "admin-settings-custom-field-edit", full_page=True)
    page.get_by_role("link", name="Change type…").click()
    page.get_by_label("New type").select_option("boolean")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_load_state("networkidle")
    snap(page, "admin-settings-custom-field-type", full_page=True)
    # an API key, shown once
    go(page, "/settings/api-keys/new/")
    page.get_by_label("Name").fill("website-forms")
    page.get_by_label("events:write — Send events").check()
    page.get_by_label("leads:read — Read leads").check()
    page.get_by_role("button", name="Create key").click()
    page.wait_for_load_state("networkidle")
    snap(page, "admin-settings-api-key-created")
    go(page, "/settings/api-keys/")
    snap(page, "admin-settings-api-keys")
    go(page, f"/settings/webhooks/{ids['webhook']}/deliveries/")
    snap(page, "admin-settings-webhook-deliveries")
    # a GDPR request: find, export, erase
    go(page, "/privacy/requests/")
    page.get_by_label("E-mail address").fill(ids["email"])
    page.get_by_role("button", name="Find").click()
    page.wait_for_load_state("networkidle")
    with page.expect_download():
        page.locator("#held button").first.click()
    page.get_by_label("Type the e-mail address").fill(ids["email"])
    page.get_by_label("Reason (kept in the audit log)").fill("Art. 17 request by e-mail")
    snap(page, "admin-gdpr-request", full_page=True)
    page.locator("#erase-form button[type=submit]").click()
    page.locator("#erased").wait_for()
    snap(page, "admin-gdpr-erased")
    go(page, "/privacy/audit/")
    snap(page, "admin-audit-log")


def optimise(paths: list[Path]) -> None:
    """Cut long shots to MAX_HEIGHT and reduce to 256 colours: UI pages lose nothing visible."""
    try:
        from PIL import Image
    except ImportError:  # Pillow is optional: the shots are just bigger
        return
    for path in paths:
        with Image.open(path) as opened:
            image: Image.Image = opened.copy()
        if image.height > MAX_HEIGHT:
            image = image.crop((0, 0, image.width, MAX_HEIGHT))
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            path, optimize=True
        )


ENV: dict[str, str] = {}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ENV.update(
            {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
        )
        ENV.update(
            DATABASE_URL=f"sqlite:///{tmp}/shots.sqlite3",
            CELERY_TASK_ALWAYS_EAGER="1",
            LEADFLOW_SHOT_LEAD=f"{tmp}/ids.json",
        )
        prepare(ENV)
        ids = json.loads(Path(f"{tmp}/ids.json").read_text())
        csv_path = f"{tmp}/new-leads.csv"
        Path(csv_path).write_text(IMPORT_CSV)
        server = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "runserver",
                "--noreload",
                f"127.0.0.1:{PORT}",
            ],
            env=ENV,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{PORT}"
            wait_for_server(base + "/accounts/login/")
            shoot(base, ids, csv_path)
        finally:
            server.terminate()
            server.wait(timeout=10)
    optimise(WRITTEN)
    print(f"{len(WRITTEN)} screenshots written to {OUT}")


if __name__ == "__main__":
    main()

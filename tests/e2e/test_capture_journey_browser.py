"""Issue 19's headline journeys in real headless Chromium.

A host site on ANOTHER origin (a second local http.server on 127.0.0.1:<port>; LeadFlow is the
live server on localhost:<port>) sends every page with a strict Content-Security-Policy: scripts
only from itself and LeadFlow, no 'unsafe-inline', no 'unsafe-eval'. Its own script
(``/site.js``) starts the vendored analytics SDK from LeadFlow's static files with a public key
that allows the host's origin, and calls ``page()``; the pricing page carries the form (script
embed or iframe). The visitor browses two pages (anonymous page views), then submits the form
with the newsletter consent ticked. Checked in the database: the lead with the answers, the
earlier anonymous page views now on that lead (stitched through the SDK's anonymous id that the
embed passes along), the form activity with the answers, the ConsentRecord pointing at the
exact consent text version shown (v2, after the marketer changed the text; v1 kept as it was),
and the score changed through the real scoring path (a published model with a rule for the
form's activity kind; a real Celery worker runs the sweep). Also: double opt-in through the
e-mailed link, and spam refused in the browser (honeypot, too fast, over the rate limit).
"""

import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from playwright.sync_api import expect

from capture import editing
from capture.models import ConsentRecord, ConsentText, Form, Rejection, Submission
from leadflow.apikeys import api_key_create
from leadflow.models import ApiKey
from leads.models import ActivityKind, Identity, Lead, RescoreMark
from privacy.models import ConsentEvent
from scoring.tasks import score_dirty_sweep_task
from tests.capture.factories import make_form
from tests.worker import celery_worker, private_queue, task_routes, wait_until

pytestmark = [pytest.mark.e2e]

RECORD_VIOLATIONS = """
window.__lfViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__lfViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
NEWSLETTER_V1 = "Send me the monthly newsletter."
NEWSLETTER_V2 = "Send me the monthly newsletter and product news. Withdraw at any time."
NEUTRAL = "Your submission could not be accepted. Please try again later."


class Host:
    """The customer's website: ``pages[path] = (content type, body)``; HTML is sent with a CSP
    that allows scripts from itself and LeadFlow only, everything else from LeadFlow only."""

    def __init__(self, leadflow: str) -> None:
        self.leadflow = leadflow
        self.pages: dict[str, tuple[str, str]] = {}
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                found = host.pages.get(self.path.split("?")[0])
                if found is None:
                    self.send_error(404)
                    return
                kind, body = found
                data = body.encode()
                lf = host.leadflow
                self.send_response(200)
                self.send_header("Content-Type", kind)
                if kind.startswith("text/html"):
                    self.send_header(
                        "Content-Security-Policy",
                        f"default-src 'none'; script-src 'self' {lf}; connect-src {lf}; "
                        f"style-src {lf}; frame-src {lf}; img-src {lf}",
                    )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def html(self, path: str, title: str, head: str, body: str) -> None:
        self.pages[path] = (
            "text/html; charset=utf-8",
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"{head}</head><body><h1>{title}</h1>{body}</body></html>",
        )

    def script(self, path: str, source: str) -> None:
        self.pages[path] = ("application/javascript; charset=utf-8", source)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host(live_server) -> Iterator[Host]:
    server = Host(live_server.url)
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(settings) -> None:
    """Per-IP counters of this test only (every browser here is 127.0.0.1)."""
    settings.LEADFLOW_RATE_LIMIT_PREFIX = f"lf:rl:journey:{uuid.uuid4().hex}"


@pytest.fixture
def browser_page(page):
    page.context.add_init_script(RECORD_VIOLATIONS)
    page.console_lines = []
    page.on("console", lambda m: page.console_lines.append(f"{m.type}: {m.text}"))
    return page


def violations(page) -> list[str]:
    found = list(page.csp_violations)
    for frame in page.frames:
        with contextlib.suppress(Exception):  # a frame navigated away meanwhile
            found += frame.evaluate("window.__lfViolations || []")
    return found


def wait_for(page, check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``check`` (a database read) while the browser goes on; its value, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {page.console_lines[-10:]}")
        page.wait_for_timeout(150)


# --- the host site --------------------------------------------------------------------------

SEGMENT_SNIPPET = """!function(){var i="analytics",analytics=window[i]=window[i]||[];
if(!analytics.initialize){if(analytics.invoked)return;analytics.invoked=!0;
analytics.methods=["trackSubmit","trackClick","trackLink","trackForm","pageview","identify",
"reset","group","track","ready","alias","debug","page","screen","once","off","on",
"addSourceMiddleware","addIntegrationMiddleware","setAnonymousId","addDestinationMiddleware",
"register"];analytics.factory=function(e){return function(){if(window[i].initialized)
return window[i][e].apply(window[i],arguments);var n=Array.prototype.slice.call(arguments);
n.unshift(e);analytics.push(n);return analytics}};for(var n=0;n<analytics.methods.length;n++){
var key=analytics.methods[n];analytics[key]=analytics.factory(key)}
analytics._writeKey=%(key)s;analytics._cdn=%(leadflow)s;analytics.SNIPPET_VERSION="5.2.1";}}();
analytics.page();
"""

RUDDER_START = """var rudder = new rudderanalytics.RudderAnalytics();
rudder.load(%(key)s, %(leadflow)s, {
  configUrl: %(leadflow)s + "/v1",
  destSDKBaseURL: %(leadflow)s + "/static/vendor/rudderstack/",
  pluginsSDKBaseURL: %(leadflow)s + "/static/vendor/rudderstack/",
  polyfillIfRequired: false
});
rudder.page();
// the iframe embed: the host's own script gives the frame the SDK's anonymous id
var slot = document.getElementById("form-slot");
if (slot) {
  rudder.ready(function () {
    var frame = document.createElement("iframe");
    // (and the page's address: a cross-origin Referer carries the origin only)
    frame.src = %(frame)s + "?anonymous_id=" + encodeURIComponent(rudder.getAnonymousId()) +
      "&page_url=" + encodeURIComponent(location.href);
    frame.title = "Download the whitepaper";
    frame.width = "600";
    frame.height = "720";
    slot.appendChild(frame);
  });
}
"""


def build_site(host: Host, *, sdk: str, embed: str, key: str, form: Form) -> None:
    lf = host.leadflow
    values = {
        "key": json.dumps(key),
        "leadflow": json.dumps(lf),
        "frame": json.dumps(f"{lf}/f/{form.public_id}/frame"),
    }
    if sdk == "segment":
        host.script("/site.js", SEGMENT_SNIPPET % values)
        head = (
            "<script src='/site.js'></script>"
            f"<script async src='{lf}/static/vendor/analytics-next/standalone.js'></script>"
        )
    else:
        host.script("/site.js", RUDDER_START % values)
        head = (
            f"<script src='{lf}/static/vendor/rudderstack/rsa-3.34.1-bundled.js'></script>"
            "<script src='/site.js' defer></script>"
        )
    if embed == "script":
        form_html = (
            f"<script src='{lf}/f/embed.js' data-form='{form.public_id}'"
            " data-target='#form-slot' async></script><div id='form-slot'></div>"
        )
    else:
        form_html = "<div id='form-slot'></div>"
    host.html("/", "Northwind Analytics", head, "<p>Dashboards your team will read.</p>")
    host.html("/pricing", "Pricing", head, "<p>Pro: 49 € a month.</p>" + form_html)


def whitepaper_form(host: Host, **kw: Any) -> Form:
    """A live form scoring as a download, whose newsletter text the marketer changed once."""
    form = make_form(
        origins=[host.origin],
        fields=[
            {"trait": "email", "kind": "email", "label": "Work e-mail", "required": True},
            {"trait": "firstName", "label": "First name"},
            {"trait": "company", "label": "Company"},
        ],
        consents=[{"key": "newsletter", "channel": "email", "text": NEWSLETTER_V1}],
        activity_kind=ActivityKind.DOWNLOAD,
        name="Whitepaper",
        submit_label="Get the whitepaper",
        thank_you_message="Thank you! It is on its way.",
        **kw,
    )
    editing.consent_change(form_id=form.pk, key="newsletter", text=NEWSLETTER_V2, channel="email")
    return form


def public_key(host: Host) -> str:
    return api_key_create(
        name=f"website-{uuid.uuid4().hex[:6]}",
        scopes=["events:write"],
        kind=ApiKey.Kind.PUBLIC,
        allowed_origins=[host.origin],
    ).secret


def form_scope(page, embed: str) -> Any:
    return (
        page if embed == "script" else page.frame_locator("iframe[title='Download the whitepaper']")
    )


def anonymous_page_views(page, count: int) -> Lead:
    """The anonymous visitor (no e-mail, no user id) holding ``count`` page views."""

    def visitor() -> Lead | None:
        found = Lead.objects.filter(email__isnull=True, external_id__isnull=True).first()
        if found and found.activities.filter(kind=ActivityKind.PAGE_VIEW).count() >= count:
            return found
        return None

    found: Lead = wait_for(page, visitor, what=f"{count} anonymous page views")
    return found


def browse(page, host: Host) -> Lead:
    """Two pages, each sending page(): the anonymous visitor with both page views."""
    page.goto(host.origin + "/")
    anonymous_page_views(page, 1)
    page.goto(host.origin + "/pricing?utm_source=newsletter")
    return anonymous_page_views(page, 2)


def submit(page, embed: str, email: str) -> Any:
    scope = form_scope(page, embed)
    scope.get_by_label("Work e-mail").fill(email)
    scope.get_by_label("First name").fill("Ada")
    scope.get_by_label("Company").fill("Lovelace Ltd")
    consent = scope.get_by_label(NEWSLETTER_V2)
    expect(consent).to_be_visible()
    consent.check()
    scope.get_by_role("button", name="Get the whitepaper").click()
    return scope


def assert_lead_and_consent(host: Host, form: Form, email: str) -> Lead:
    # the reply came with the received row; the worker makes it a lead
    assert wait_until(lambda: Lead.objects.filter(email=email).exists(), timeout=30)
    lead = Lead.objects.get(email=email)
    assert (lead.first_name, lead.company) == ("Ada", "Lovelace Ltd")
    # the earlier anonymous page views are on the lead now, and no anonymous visitor is left
    urls = sorted(
        a.properties.get("url") or a.properties["context"]["page"]["url"]
        for a in lead.activities.filter(kind=ActivityKind.PAGE_VIEW)
    )
    assert urls == [host.origin + "/", host.origin + "/pricing?utm_source=newsletter"], urls
    assert not Lead.objects.filter(email__isnull=True, external_id__isnull=True).exists()
    activity = lead.activities.get(kind=ActivityKind.DOWNLOAD)
    assert activity.name == "Whitepaper"
    assert activity.properties["form"] == form.public_id
    assert activity.properties["answers"] == {
        "email": email,
        "firstName": "Ada",
        "company": "Lovelace Ltd",
    }
    submission = Submission.objects.get(form=form, lead=lead)
    assert submission.anonymous_id  # the SDK's id, passed on by the embed
    # the consent record points at the version the visitor saw: v2; v1 is kept as it was
    record = ConsentRecord.objects.get(lead=lead)
    v1, v2 = ConsentText.objects.filter(form=form, key="newsletter").order_by("version")
    assert record.consent_text_id == v2.pk
    assert (v2.version, v2.text) == (2, NEWSLETTER_V2)
    assert (v1.version, v1.text, v1.retired) == (1, NEWSLETTER_V1, True)
    assert record.granted
    assert record.page_url.startswith(host.origin + "/pricing")
    return lead


def scored(page, lead_id: int, done: Callable[[int], bool]) -> int:
    """The lead's score once the worker has swept its rescore marks and ``done(score)``. A mark
    committed while a sweep was running waits for the next sweep, which beat asks for every
    few seconds (``scoring-dirty-sweep``): here the test asks, every two seconds."""
    kicked = [time.monotonic()]

    def check() -> int | None:
        if time.monotonic() - kicked[0] > 2:
            score_dirty_sweep_task.delay()
            kicked[0] = time.monotonic()
        lead = Lead.objects.filter(pk=lead_id).first()
        if lead is None or RescoreMark.objects.filter(lead_id=lead_id).exists():
            return None
        return lead.score if done(lead.score) else None

    lead = Lead.objects.filter(pk=lead_id).first()
    state = lead and (lead.score, list(lead.activities.values_list("kind", "properties")))
    return int(wait_for(page, check, timeout=40, what=f"lead {lead_id} to be scored: {state}"))


# --- the headline journeys ------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.parametrize(("sdk", "embed"), [("segment", "script"), ("rudder", "iframe")])
def test_visitor_browses_then_submits_and_becomes_a_scored_lead(
    browser_page, live_celery, host, sdk, embed
):
    page = browser_page
    with (
        # the worker stores the submission (capture) and scores it (scoring)
        task_routes(
            live_celery,
            {
                "scoring.tasks.*": {"queue": (queue := private_queue("journey"))},
                "capture.tasks.*": {"queue": queue},
            },
        ),
        celery_worker("-Q", queue),
    ):
        call_command("seed_scoring_demo", verbosity=0)  # published: a download scores 10
        form = whitepaper_form(host)
        build_site(host, sdk=sdk, embed=embed, key=public_key(host), form=form)

        visitor = browse(page, host)
        # before: the anonymous visitor as the worker scored the page views (the pricing page
        # visit is a rule of the seeded model)
        before = scored(page, visitor.pk, lambda score: score > 0)
        scope = submit(page, embed, email := f"ada-{sdk}@example.com")
        scope.get_by_text("Thank you! It is on its way.").wait_for()
        lead = assert_lead_and_consent(host, form, email)
        assert ConsentEvent.objects.filter(lead=lead, channel="email", granted=True).count() == 1
        # stitched through the SDK's own anonymous id, which the embed passed on
        sdk_id = page.evaluate(
            "analytics.user().anonymousId()" if sdk == "segment" else "rudder.getAnonymousId()"
        )
        assert Submission.objects.get(form=form).anonymous_id == sdk_id
        assert lead.identities.filter(kind=Identity.Kind.ANONYMOUS_ID, value=sdk_id).exists()
        # after: the worker's sweep scored the form's activity (a download: 10 points)
        after = scored(page, lead.pk, lambda score: score > before)
        assert after - before == 10, (before, after)
    assert violations(page) == []


@pytest.mark.django_db(transaction=True)
def test_double_opt_in_consent_only_after_the_emailed_link(
    browser_page, live_server, host, settings
):
    page = browser_page
    settings.SITE_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    form = whitepaper_form(host, double_opt_in=True)
    build_site(host, sdk="segment", embed="script", key=public_key(host), form=form)
    browse(page, host)
    scope = submit(page, "script", email := "doi@example.com")
    scope.get_by_text("Please click the link in it to confirm.").wait_for()

    submission = Submission.objects.get(form=form)
    assert submission.status == Submission.Status.PENDING
    record = ConsentRecord.objects.get(submission=submission)
    assert record.consent_text.version == 2
    assert record.confirmed_at is None
    assert not ConsentEvent.objects.exists()  # no consent before the click

    (message,) = mail.outbox
    assert message.to == [email]
    link = re.search(r"http://\S+/f/confirm/\S+", str(message.body))
    assert link, message.body
    page.goto(link.group(0))
    assert not ConsentEvent.objects.exists()  # opening the link (a mail scanner) is not a click
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("Confirmed. Thank you!").wait_for()

    submission.refresh_from_db()
    assert submission.status == Submission.Status.CONFIRMED
    record.refresh_from_db()
    assert record.confirmed_at is not None
    lead = assert_lead_and_consent(host, form, email)
    events = ConsentEvent.objects.filter(lead=lead, channel="email", granted=True)
    assert events.count() == 1
    assert events.get().at >= record.confirmed_at
    assert violations(page) == []


@pytest.mark.django_db(transaction=True)
def test_spam_in_the_browser_is_refused_logged_and_makes_no_lead(browser_page, host, settings):
    """The visitor sees a neutral message (nothing that teaches a bot what tripped); the
    marketer sees one Rejection per refusal, with the reason."""
    page = browser_page
    settings.LEADFLOW_CAPTURE_IP_RATE_LIMIT = 2  # the third submission from this IP is over
    form = whitepaper_form(host)
    build_site(host, sdk="segment", embed="script", key=public_key(host), form=form)
    alert = page.locator("#form-slot [role=alert]")

    # 1. a bot fills every input it finds, the hidden honeypot too
    page.goto(host.origin + "/pricing")
    page.get_by_label("Work e-mail").wait_for()
    page.evaluate("document.querySelector('input[name=lf_website]').value = 'http://spam.example'")
    submit(page, "script", "bot@example.com")
    page.get_by_text(NEUTRAL).wait_for()
    assert list(Rejection.objects.values_list("reason", flat=True)) == ["honeypot"]

    # 2. faster than a person can read and type: the form asks for 30 seconds
    Form.objects.filter(pk=form.pk).update(min_fill_seconds=30)
    page.goto(host.origin + "/pricing")
    page.get_by_label("Work e-mail").wait_for()
    submit(page, "script", "quick@example.com")
    alert.filter(has_text=NEUTRAL).wait_for()
    assert Rejection.objects.filter(reason="too_fast").count() == 1

    # 3. a third submission from the same address within the window: over the rate limit
    Form.objects.filter(pk=form.pk).update(min_fill_seconds=0)
    page.goto(host.origin + "/pricing")
    page.get_by_label("Work e-mail").wait_for()
    submit(page, "script", "again@example.com")
    alert.filter(has_text="Too many attempts. Please wait a minute and try again.").wait_for()
    assert Rejection.objects.filter(reason="rate_limited").count() == 1

    assert sorted(Rejection.objects.values_list("reason", flat=True)) == [
        "honeypot",
        "rate_limited",
        "too_fast",
    ]
    assert set(Rejection.objects.values_list("form_id", flat=True)) == {form.pk}
    assert not Lead.objects.filter(email__isnull=False).exists()  # only the anonymous visitor
    assert not Submission.objects.exists()
    assert violations(page) == []

"""End-to-end in real headless Chromium (issue 19, core): a static page on another origin posts
a plain HTML form to LeadFlow. It answered no challenge, so LeadFlow's own page shows it again,
filled in, with the field's message; sent from there (its script solves the challenge) it
counts; with double opt-in the visitor confirms through the e-mailed link's button. A form that
accepts plain posts takes them at once. No CSP violations."""

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from playwright.sync_api import expect

from capture.models import ConsentRecord, Submission
from leads.models import Lead
from privacy.models import ConsentEvent
from tests.capture.factories import make_form

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def host_site() -> Iterator[tuple[str, dict[str, str]]]:
    """A second local server (another origin) serving the pages in the returned dict."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = pages.get(self.path, "not found").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", pages
    server.shutdown()
    server.server_close()


def _plain_form(action: str, consent_version: int) -> str:
    return f"""<!doctype html><html><body>
<form method="post" action="{action}">
  <label>E-mail <input name="email"></label>
  <label>First name <input name="firstName"></label>
  <label><input type="checkbox" name="consent.newsletter" value="{consent_version}"> Newsletter</label>
  <input name="lf_website" tabindex="-1" autocomplete="off" hidden>
  <input type="hidden" name="lf_page" value="http://host/landing">
  <button type="submit">Send</button>
</form></body></html>"""


def test_plain_html_form_from_another_origin(page, live_server, host_site, settings):
    settings.SITE_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    origin, pages = host_site
    form = make_form(
        origins=[origin],
        consents=[{"key": "newsletter", "channel": "email", "text": "Send me news."}],
        double_opt_in=True,
        name="Static site form",
    )
    pages["/contact"] = _plain_form(f"{live_server.url}/f/{form.public_id}/submit", 1)

    page.goto(f"{origin}/contact")
    page.get_by_label("E-mail").fill("not-an-address")
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()
    assert page.url.startswith(live_server.url)
    expect(page.get_by_text("Enter a valid e-mail address.")).to_be_visible()
    assert not Lead.objects.exists()

    expect(page.get_by_text("Please check your answers and send the form again.")).to_be_visible()
    page.locator("input[name=email]").fill("static@example.com")
    page.locator("input[name='consent.newsletter']").check()
    page.locator("form button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.get_by_text("Please click the link in it to confirm.")).to_be_visible()
    submission = Submission.objects.get()
    assert submission.status == "pending"
    assert submission.lead.email == "static@example.com"
    assert not ConsentEvent.objects.exists()

    link = re.search(r"http://\S+/f/confirm/\S+", str(mail.outbox[0].body))
    assert link
    page.goto(link.group(0))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    expect(page.get_by_text("Confirmed. Thank you!")).to_be_visible()
    assert ConsentRecord.objects.get().confirmed_at is not None
    assert ConsentEvent.objects.filter(lead=submission.lead, granted=True).count() == 1
    assert page.csp_violations == []


def test_plain_post_counts_at_once_when_the_form_accepts_them(page, live_server, host_site):
    origin, pages = host_site
    form = make_form(
        origins=[origin],
        consents=[{"key": "newsletter", "channel": "email", "text": "Send me news."}],
        accepts_plain_posts=True,
        thank_you_message="Thanks from the static site.",
    )
    pages["/contact"] = _plain_form(f"{live_server.url}/f/{form.public_id}/submit", 1)
    page.goto(f"{origin}/contact")
    page.get_by_label("E-mail").fill("quick@example.com")
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()
    expect(page.get_by_text("Thanks from the static site.")).to_be_visible()
    assert Lead.objects.get().email == "quick@example.com"
    assert page.csp_violations == []

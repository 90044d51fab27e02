"""The capture embeds in real headless Chromium, on a host page of ANOTHER origin with a strict
Content-Security-Policy that allows LeadFlow's origin only (issue 19, "Embedding").

LeadFlow runs as the live server on http://localhost:<port>; the host page is served by a tiny
http.server on http://127.0.0.1:<other port> — another origin by host and port. Its CSP has no
'unsafe-inline' and no 'unsafe-eval', so an inline style or eval in the embed would be refused
and reported (console + securitypolicyviolation, recorded by an init script that Playwright
injects through DevTools, outside the page's CSP).
"""

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from capture import challenge
from capture.models import ConsentText, FieldKind, Form, FormDay, FormField, HiddenSource

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__lfViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__lfViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


class Host:
    """The host site: a few HTML pages, each sent with a strict CSP naming LeadFlow only."""

    def __init__(self, leadflow: str) -> None:
        self.leadflow = leadflow
        self.pages: dict[str, str] = {}
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = host.pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                lf = host.leadflow
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header(
                    "Content-Security-Policy",
                    f"default-src 'none'; script-src {lf}; connect-src {lf}; style-src {lf}; "
                    f"frame-src {lf}; img-src {lf}",
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host(live_server) -> Iterator[Host]:
    server = Host(live_server.url)
    yield server
    server.close()


@pytest.fixture
def capture_form(host) -> Form:
    form = Form.objects.create(
        name="Spring webinar",
        status=Form.Status.LIVE,
        allowed_origins=host.origin,
        min_fill_seconds=0,
        submit_label="Register",
        thank_you_message="See you at the webinar!",
    )
    FormField.objects.create(
        form=form,
        position=1,
        trait="email",
        kind=FieldKind.EMAIL,
        label="Work e-mail",
        required=True,
        help_text="We send the link there",
    )
    FormField.objects.create(
        form=form, position=2, trait="firstName", kind=FieldKind.TEXT, label="First name"
    )
    FormField.objects.create(
        form=form,
        position=3,
        trait="utm_source",
        kind=FieldKind.HIDDEN,
        label="Source",
        hidden_source=HiddenSource.UTM_SOURCE,
    )
    ConsentText.objects.create(
        form=form,
        key="newsletter",
        version=3,
        channel="email",
        text="Send me <b>news</b> & offers",
    )
    return form


@pytest.fixture
def browse(page) -> Callable[[str], Any]:
    page.context.add_init_script(RECORD_VIOLATIONS)

    def go(url: str) -> Any:
        page.goto(url)
        return page

    return go


def violations(page) -> list[str]:
    found = list(page.csp_violations)
    for frame in page.frames:
        found += frame.evaluate("window.__lfViolations || []")
    return found


def wait_for(check: Callable[[], bool], timeout: float = 8.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def counts(form: Form) -> tuple[int, int]:
    day = FormDay.objects.filter(form=form).first()
    return (day.views, day.starts) if day else (0, 0)


def script_page(host: Host, form: Form) -> str:
    host.pages["/landing"] = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Landing</title>"
        "</head><body><h1>Our webinar</h1>"
        f"<script src='{host.leadflow}/f/embed.js' data-form='{form.public_id}'"
        " data-target='#leadflow-form' async></script>"
        "<div id='leadflow-form'></div></body></html>"
    )
    return f"{host.origin}/landing?utm_source=spring-mail"


def test_script_embed_renders_counts_validates_and_shows_server_errors(browse, host, capture_form):
    page = browse(script_page(host, capture_form))
    email = page.get_by_label("Work e-mail")
    email.wait_for()
    expect(page.get_by_role("button", name="Register")).to_be_visible()
    # the marketer's consent text is text, never markup
    consent = page.get_by_label("Send me <b>news</b> & offers")
    expect(consent).to_be_visible()
    assert page.locator("#leadflow-form b").count() == 0
    # the honeypot is off-screen, unfocusable and hidden from assistive technology
    trap = page.locator("input[name=lf_website]")
    assert trap.get_attribute("tabindex") == "-1"
    assert trap.locator("xpath=..").get_attribute("aria-hidden") == "true"
    assert trap.bounding_box()["x"] < 0
    # the stylesheet came from LeadFlow's origin and applies
    assert page.locator("link[data-lf-stylesheet]").get_attribute("href").startswith(host.leadflow)
    assert email.evaluate("e => getComputedStyle(e).display") == "block"
    wait_for(lambda: counts(capture_form) == (1, 0))

    # keyboard only: Tab from the top of the page reaches the e-mail field first
    page.locator("h1").click()
    page.keyboard.press("Tab")
    assert email.evaluate("e => e === document.activeElement")
    page.keyboard.type("not-an-email")
    wait_for(lambda: counts(capture_form) == (1, 1))
    page.keyboard.press("Enter")
    error = page.locator("#leadflow-form .lf-error:visible")
    assert error.inner_text() == "Enter a valid e-mail address."
    assert email.get_attribute("aria-invalid") == "true"
    assert error.get_attribute("id") in email.get_attribute("aria-describedby").split()
    assert email.evaluate("e => e === document.activeElement")  # focus moved to the error

    # the server's 400 (capture-core's endpoint, stood in for here) lands next to each field
    sent: list[dict[str, Any]] = []

    def answer(route) -> None:
        sent.append(json.loads(route.request.post_data))
        route.fulfill(
            status=400,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": host.origin},
            body=json.dumps(
                {
                    "ok": False,
                    "code": "invalid",
                    "errors": {
                        "email": ["This address cannot receive mail."],
                        "consent.newsletter": ["Please read this first."],
                    },
                }
            ),
        )

    page.route("**/f/*/submit", answer)
    email.fill("ada@example.com")
    page.get_by_label("First name").fill("Ada")
    consent.check()
    page.get_by_role("button", name="Register").click()
    page.get_by_text("This address cannot receive mail.").wait_for()
    assert email.get_attribute("aria-invalid") == "true"
    assert consent.get_attribute("aria-invalid") == "true"
    expect(page.get_by_text("Please read this first.")).to_be_visible()
    assert email.input_value() == "ada@example.com"  # what was typed is kept

    (body,) = sent
    assert body["email"] == "ada@example.com"
    assert body["firstName"] == "Ada"
    assert body["utm_source"] == "spring-mail"
    assert body["consent.newsletter"] == 3
    assert body["lf_website"] == ""
    assert body["lf_page"] == f"{host.origin}/landing?utm_source=spring-mail"
    # the browser's proof of work is the one the server checks
    assert challenge.verify(
        capture_form.public_id, body["lf_token"], body["lf_proof"], min_fill_seconds=0
    ).ok

    # a network failure says so and keeps the answers
    page.unroute("**/f/*/submit")
    page.route("**/f/*/submit", lambda route: route.abort())
    page.get_by_role("button", name="Register").click()
    page.get_by_text("No connection to the server").wait_for()
    assert email.input_value() == "ada@example.com"
    assert counts(capture_form) == (1, 1)  # one view, one start, however much was typed

    # on a plain-http host page there is no SubtleCrypto: the script's own SHA-256 finds the
    # same smallest proof as the server's rule
    token = body["lf_token"]
    for text in ("", "abc", "x" * 55, "x" * 64, f"{token}:17", "héllo ✓"):
        digest = page.evaluate(
            "t => Array.from(LeadFlowEmbed.sha256(new TextEncoder().encode(t)))"
            ".map(b => b.toString(16).padStart(2, '0')).join('')",
            text,
        )
        assert digest == hashlib.sha256(text.encode()).hexdigest(), text
    fallback = page.evaluate("t => LeadFlowEmbed.solve(t, 10, true)", token)
    assert fallback == challenge.solve(token, 10)
    assert violations(page) == []


def test_script_embed_refused_on_an_origin_not_allowed(browse, host, capture_form):
    capture_form.allowed_origins = "https://elsewhere.example"
    capture_form.save()
    page = browse(script_page(host, capture_form))
    page.get_by_role("alert").wait_for()
    assert page.get_by_label("Work e-mail").count() == 0
    assert counts(capture_form) == (0, 0)


def test_script_embed_submits_a_lead_and_thanks(browse, host, capture_form):
    from leads.models import Lead

    page = browse(script_page(host, capture_form))
    page.get_by_label("Work e-mail").fill("grace@example.com")
    page.get_by_label("Send me <b>news</b> & offers").check()
    page.get_by_role("button", name="Register").click()
    page.get_by_text("See you at the webinar!").wait_for()
    assert Lead.objects.filter(email="grace@example.com").exists()
    assert violations(page) == []


def frame_page(host: Host, form: Form) -> str:
    # width/height attributes, not the style attribute: a strict style-src refuses inline styles
    host.pages["/framed"] = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Framed</title>"
        "</head><body><h1>Our webinar</h1>"
        f"<iframe src='{host.leadflow}/f/{form.public_id}/frame?utm_source=spring-mail'"
        " title='Register for the webinar' width='600' height='640'></iframe>"
        "</body></html>"
    )
    return f"{host.origin}/framed"


def test_iframe_embed_renders_counts_and_refuses_an_invalid_email(browse, host, capture_form):
    page = browse(frame_page(host, capture_form))
    frame = page.frame_locator("iframe[title='Register for the webinar']")
    email = frame.get_by_label("Work e-mail")
    email.wait_for()
    expect(frame.get_by_label("Send me <b>news</b> & offers")).to_be_visible()
    assert frame.locator("input[name=utm_source]").input_value() == "spring-mail"
    wait_for(lambda: counts(capture_form) == (1, 0))
    email.fill("not-an-email")
    wait_for(lambda: counts(capture_form) == (1, 1))
    frame.get_by_role("button", name="Register").click()
    # the browser's own check stops the post and names the field's problem
    assert email.evaluate("e => e.validity.typeMismatch")
    assert email.evaluate("e => e.validationMessage") != ""
    assert frame.locator("input[name=lf_proof]").input_value() != ""  # solved meanwhile
    token = frame.locator("input[name=lf_token]").input_value()
    proof = frame.locator("input[name=lf_proof]").input_value()
    assert challenge.verify(capture_form.public_id, token, proof, min_fill_seconds=0).ok
    assert violations(page) == []


def test_iframe_refused_by_an_origin_not_allowed(browse, host, capture_form):
    capture_form.allowed_origins = "https://elsewhere.example"
    capture_form.save()
    page = browse(frame_page(host, capture_form))
    page.wait_for_timeout(1000)
    # frame-ancestors blocks it: the frame shows no LeadFlow form and counts nothing
    frame = page.frame_locator("iframe")
    assert frame.locator("form").count() == 0
    assert counts(capture_form) == (0, 0)


def test_iframe_embed_submits_a_lead_and_thanks(browse, host, capture_form):
    from leads.models import Lead

    page = browse(frame_page(host, capture_form))
    frame = page.frame_locator("iframe")
    frame.get_by_label("Work e-mail").fill("grace@example.com")
    frame.get_by_role("button", name="Register").click()
    frame.get_by_text("See you at the webinar!").wait_for()
    assert Lead.objects.filter(email="grace@example.com").exists()
    assert violations(page) == []


AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe" / "axe-4.14.1.min.js"
AXE_RUN = """
(where) => axe.run(where, {resultTypes: ["violations"]}).then(r => JSON.stringify(
  r.violations.filter(v => v.impact === "critical" || v.impact === "serious").map(v => ({
    id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
  }))
))
"""


def test_both_embeds_pass_axe(browse, host, capture_form):
    """axe-core (WCAG A/AA, critical and serious) over the script-rendered form and the iframe
    page; axe goes in through DevTools, which the host's CSP does not govern."""
    source = AXE.read_text()
    page = browse(script_page(host, capture_form))
    page.get_by_label("Work e-mail").wait_for()
    page.get_by_role("button", name="Register").click()  # with its error messages showing
    page.locator(".lf-error:visible").first.wait_for()
    page.evaluate(source)
    assert json.loads(page.evaluate(AXE_RUN, "#leadflow-form")) == []

    page.goto(f"{host.leadflow}/f/{capture_form.public_id}/frame")
    page.get_by_label("Work e-mail").wait_for()
    page.evaluate(source)
    assert json.loads(page.evaluate(AXE_RUN, "html")) == []

"""In Chromium, as a marketer: create a capture form, add fields (one moved by htmx) and a
consent text, try to publish without an email field (refused, naming it), publish, and copy
the embed snippets. Then every tab of the form through axe-core at 1440 and 320 px. No CSP
violation on the way."""

import re

import pytest
from playwright.sync_api import expect

from capture.models import ConsentText, Form, Rejection, Submission
from leadflow.roles import Role
from tests.e2e.test_accessibility_browser import (
    DUPLICATE_IDS,
    WIDE,
    WIDTH,
    axe_violations,
    evaluate,
)
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _add_field(page, trait: str, kind: str, label: str, required: bool = False) -> None:
    page.locator("#id_trait").fill(trait)
    page.locator("#id_kind").select_option(kind)
    page.locator("#id_label").fill(label)
    if required:
        page.locator("#id_required").check()
    page.get_by_role("button", name="Add field").click()
    page.wait_for_load_state()


def test_marketer_builds_publishes_and_embeds_a_form(page, login):
    UserFactory(username="mia", role=Role.MARKETER)
    login("mia")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Forms").click()
    page.get_by_role("link", name="New form").click()
    page.get_by_label("Name").fill("Spring webinar")
    page.get_by_label("Allowed origins").fill("https://www.example.com\nexample.org/path")
    page.get_by_role("button", name="Create form").click()
    assert "Allowed origins: Line 2" in page.get_by_role("alert").first.inner_text()
    page.get_by_label("Allowed origins").fill("https://www.example.com")
    page.get_by_role("button", name="Create form").click()
    page.wait_for_load_state()
    form = Form.objects.get(name="Spring webinar")
    assert page.url.endswith(f"/capture/{form.pk}/fields/")

    _add_field(page, "company", "text", "Company")
    # publishing without an email field is refused, naming the field
    page.get_by_role("navigation", name="Form").get_by_role("link", name="Settings").click()
    page.locator("#id_status").select_option("live")
    page.get_by_role("button", name="Save settings").click()
    assert (
        "Status: A live form needs an email field" in page.get_by_role("alert").first.inner_text()
    )

    page.get_by_role("navigation", name="Form").get_by_role("link", name="Fields").click()
    _add_field(page, "email", "email", "Work e-mail", required=True)
    rows = page.locator("#fields tbody tr")
    assert rows.nth(0).inner_text().startswith("1\tCompany")
    # htmx: move the e-mail field up; the table is swapped in place
    rows.nth(1).get_by_role("button", name="Move up").click()
    expect(page.locator("#fields tbody tr").first).to_contain_text("Work e-mail")
    assert list(form.fields.values_list("trait", flat=True)) == ["email", "company"]

    page.get_by_role("navigation", name="Form").get_by_role("link", name="Consent texts").click()
    page.locator("#id_key").fill("newsletter")
    page.locator("#id_text").fill("Send me news about webinars.")
    page.locator("#id_channel").select_option("email")
    page.get_by_role("button", name="Add consent").click()
    page.wait_for_load_state()
    assert "Send me news about webinars." in page.locator("#consent-newsletter-v1").inner_text()
    assert ConsentText.objects.get(form=form, key="newsletter").version == 1

    page.get_by_role("navigation", name="Form").get_by_role("link", name="Settings").click()
    page.locator("#id_status").select_option("live")
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_load_state()
    assert page.locator("#form-status").inner_text() == "Live"
    form.refresh_from_db()
    assert form.status == "live"

    page.get_by_role("navigation", name="Form").get_by_role("link", name="Embed").click()
    script = page.locator("#embed-script pre").inner_text()
    assert f'data-form="{form.public_id}"' in script
    assert re.search(r'src="http://[^"]+/f/embed\.js"', script)
    html = page.locator("#embed-html pre").inner_text()
    assert f"/f/{form.public_id}/submit" in html
    assert 'name="email"' in html
    assert 'name="consent.newsletter" value="1"' in html
    assert 'name="lf_website"' in html
    assert f"/f/{form.public_id}/frame" in page.locator("#embed-iframe pre").inner_text()

    # every tab of the form (with a submission and a rejection to show): no serious axe
    # violation, no duplicate ids, fits 320 px
    Submission.objects.create(
        form=form, lead=LeadFactory(), status="accepted", created_lead=True, source="google"
    )
    Rejection.objects.create(form=form, reason="honeypot", excerpt='{"email": "x@y.z"}' * 40)
    problems = []
    tabs = ("", "fields/", "consents/", "consents/newsletter/", "embed/", "submissions/")
    tabs += ("rejections/", "analytics/", f"fields/{form.fields.first().pk}/")
    for width in (1440, 320):
        page.set_viewport_size({"width": width, "height": 800})
        for tab in tabs:
            page.goto(f"/capture/{form.pk}/{tab}")
            page.wait_for_load_state("networkidle")
            problems += [f"{width}px {tab}: {v['id']} {v['nodes']}" for v in axe_violations(page)]
            if evaluate(page, DUPLICATE_IDS):
                problems.append(f"{width}px {tab}: duplicate ids")
            scroll, inner = evaluate(page, WIDTH)
            if scroll > inner:
                problems.append(f"{width}px {tab}: {scroll} px wide: {evaluate(page, WIDE)}")
    assert problems == []
    assert page.csp_violations == []

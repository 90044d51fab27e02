"""The demo landing page in real headless Chromium (issue 19, item 7): a newcomer browses the
sample customer site LeadFlow serves under /demo/landing/ (analytics-next from LeadFlow's static
files, the demo's public key), submits the demo form, and the lead appears with the page views
of the visit on it. LeadFlow's own CSP applies to the page: no violation."""

import time

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from capture.models import ConsentRecord, Form, Submission
from leads.models import ActivityKind, Lead

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for(page, check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        page.wait_for_timeout(150)
    return value


def page_views() -> int:
    return Lead.objects.filter(email__isnull=True, activities__kind=ActivityKind.PAGE_VIEW).count()


def test_browse_the_demo_landing_page_submit_and_the_lead_has_the_visit(
    page, live_server, settings
):
    settings.LEADFLOW_DEMO_LANDING = True
    call_command("seed_capture_demo", f"--origin={live_server.url}", verbosity=0)
    # a person reads for a few seconds before sending; this test types at once
    Form.objects.filter(public_id="demo-whitepaper").update(min_fill_seconds=0)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url))

    page.goto("/demo/landing/")
    wait_for(page, lambda: page_views() == 1)
    page.get_by_role("link", name="See pricing").click()
    expect(page.get_by_role("heading", name="Pricing")).to_be_visible()
    wait_for(page, lambda: page_views() == 2)
    page.get_by_role("link", name="Get the free whitepaper").click()
    wait_for(page, lambda: page_views() == 3)

    page.get_by_label("Work e-mail").fill("newcomer@example.com")
    page.get_by_label("First name").fill("Nia")
    page.get_by_label("Company").fill("Contoso")
    page.get_by_label("Yes, send me LeadFlow's monthly newsletter", exact=False).check()
    page.get_by_role("button", name="Download the whitepaper").click()
    page.get_by_text("The whitepaper is on its way to your inbox.").wait_for()

    lead = Lead.objects.get(email="newcomer@example.com")
    views = lead.activities.filter(kind=ActivityKind.PAGE_VIEW)
    paths = sorted(v.properties.get("path", "") for v in views)
    assert paths == ["/demo/landing/", "/demo/landing/", "/demo/landing/pricing/"], paths
    assert not Lead.objects.filter(email__isnull=True).exists()  # the visitor became the lead
    assert lead.activities.filter(kind=ActivityKind.DOWNLOAD).count() == 1
    assert Submission.objects.get().anonymous_id
    assert ConsentRecord.objects.get(lead=lead).consent_text.version == 1
    # everything came from LeadFlow (the SDK's settings and chunks too): no CDN
    assert {u.split("/")[2] for u in sent} == {live_server.url.split("/")[2]}
    assert page.csp_violations == []

"""The demo landing page (issue 19, item 7): a fictional customer's product site, served by
LeadFlow under ``/demo/landing/`` so a newcomer sees capture work end to end — the script embed
of the demo form and analytics-next (vendored, from LeadFlow's static files) sending page views
with the demo's public key. On when ``LEADFLOW_DEMO_LANDING`` (default: DEBUG), else 404.

The pages' copy is a sample customer's marketing text, not LeadFlow's interface: it is left
unmarked for translation on purpose. All JavaScript is in static files (LeadFlow's CSP applies).
"""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from capture.demo import demo_key, demo_key_secret
from capture.management.commands.seed_capture_demo import PUBLIC_ID


def _page(request: HttpRequest, template: str) -> HttpResponse:
    if not settings.LEADFLOW_DEMO_LANDING:
        raise Http404
    context = {
        "form_id": PUBLIC_ID,
        # no key row (the demo seed has not run, or the key was revoked): no SDK on the page
        "analytics_key": demo_key_secret() if demo_key() is not None else "",
    }
    return render(request, template, context)


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    return _page(request, "capture/demo/landing.html")


@require_GET
def pricing(request: HttpRequest) -> HttpResponse:
    return _page(request, "capture/demo/pricing.html")

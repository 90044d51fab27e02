"""The real browser SDKs, vendored from npm, on a host page of ANOTHER origin, sending to
LeadFlow: @segment/analytics-next (standalone build) and @rudderstack/analytics-js v3 (bundled
UMD build). The host page is served by a small http.server on 127.0.0.1 (another port, so
another origin than the live server's http://localhost:<port>); the SDKs load from LeadFlow's
static URL, configure themselves from LeadFlow's settings endpoints and send page, track and
identify there. The browser must talk to no third host (no CDN, no metrics)."""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from leadflow.apikeys import api_key_create
from leadflow.models import ApiKey
from leads.models import Activity, Identity, Lead

pytestmark = [pytest.mark.e2e]


class _HostPages(BaseHTTPRequestHandler):
    pages: dict[str, str] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = self.pages.get(self.path.split("?")[0])
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def host_site():
    """A second local origin: ``site.url``; ``site.pages[path] = html`` serves a page."""
    pages: dict[str, str] = {}
    handler = type("Pages", (_HostPages,), {"pages": pages})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site = type("Site", (), {"url": f"http://127.0.0.1:{server.server_address[1]}", "pages": pages})
    yield site
    server.shutdown()
    server.server_close()


@pytest.fixture
def sdk_key(transactional_db, host_site):
    def make(consent: bool = False) -> str:
        created = api_key_create(
            name=f"website-{uuid.uuid4().hex[:6]}",
            scopes=["events:write"],
            kind=ApiKey.Kind.PUBLIC,
            allowed_origins=[host_site.url],
            tracking_consent_required=consent,
        )
        return created.secret

    return make


def analytics_next_page(*, leadflow: str, key: str, calls: str, consent: bool = False) -> str:
    """Segment's snippet (queue stub), with ``_cdn`` = LeadFlow and the vendored build."""
    middleware = ""
    if consent:  # what a consent wrapper does: the visitor's choice in every event's context
        middleware = """analytics.addSourceMiddleware(function (m) {
          m.payload.obj.context = m.payload.obj.context || {};
          m.payload.obj.context.consent = {categoryPreferences: {Analytics: true, Ads: false}};
          m.next(m.payload);
        });"""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title>
<script>
!function(){{var i="analytics",analytics=window[i]=window[i]||[];if(!analytics.initialize){{
if(analytics.invoked)return;analytics.invoked=!0;analytics.methods=["trackSubmit","trackClick",
"trackLink","trackForm","pageview","identify","reset","group","track","ready","alias","debug",
"page","screen","once","off","on","addSourceMiddleware","addIntegrationMiddleware",
"setAnonymousId","addDestinationMiddleware","register"];analytics.factory=function(e){{
return function(){{if(window[i].initialized)return window[i][e].apply(window[i],arguments);
var n=Array.prototype.slice.call(arguments);n.unshift(e);analytics.push(n);return analytics}}}};
for(var n=0;n<analytics.methods.length;n++){{var key=analytics.methods[n];
analytics[key]=analytics.factory(key)}}
analytics._writeKey={json.dumps(key)};analytics._cdn={json.dumps(leadflow)};
analytics.SNIPPET_VERSION="5.2.1";}}}}();
{middleware}
{calls}
</script>
<script async src="{leadflow}/static/vendor/analytics-next/standalone.js"></script>
</head><body><h1>Pricing</h1></body></html>"""


def rudderstack_page(*, leadflow: str, key: str, calls: str, load_options: str = "") -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title>
<script src="{leadflow}/static/vendor/rudderstack/rsa-3.34.1-bundled.js"></script>
<script>
var rudder = new rudderanalytics.RudderAnalytics();
rudder.load({json.dumps(key)}, {json.dumps(leadflow)}, {{
  configUrl: {json.dumps(leadflow + "/v1")},
  destSDKBaseURL: {json.dumps(leadflow + "/static/vendor/rudderstack/")},
  pluginsSDKBaseURL: {json.dumps(leadflow + "/static/vendor/rudderstack/")},
  polyfillIfRequired: false{load_options}
}});
{calls.replace("analytics.", "rudder.")}
</script></head><body><h1>Pricing</h1></body></html>"""


BROWSE = """analytics.page();
analytics.track("Pricing Viewed", {plan: "pro"});"""
# later (the visitor signs up): identify. Not in the same tick as page/track — analytics-next
# adds the current userId to queued events when it sends them, so they would arrive as u1's
# and u1 would be a known lead that a public key may not add an e-mail to without a signature
IDENTIFY = 'analytics.identify("%(user)s", {email: "%(email)s"});'


def browse_then_identify(page, url: str, *, sdk: str, user: str, email: str) -> None:
    """Open the host page (page + track), wait until both landed, then identify."""
    page.goto(url)
    assert wait_for(page, lambda: Activity.objects.count() >= 2), page.console_lines
    name = "rudder" if sdk == "rudder" else "analytics"
    page.evaluate(IDENTIFY.replace("analytics.", name + ".") % {"user": user, "email": email})


def watch(page):
    """Every request the page makes, and the replies of LeadFlow's /v1/ ingestion."""
    requests: list[str] = []
    replies: list = []
    page.on("request", lambda r: requests.append(r.url))
    page.console_lines = []
    page.on("console", lambda m: page.console_lines.append(f"{m.type}: {m.text}"))
    page.on("requestfailed", lambda r: page.console_lines.append(f"failed: {r.url} {r.failure}"))
    page.on("response", lambda r: replies.append(r) if "/v1/" in r.url else None)
    page.replies = replies
    return requests, replies


def wait_for(page, check, timeout: float = 15.0):
    """Poll ``check`` while Playwright runs (its events arrive only inside its calls)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        page.wait_for_timeout(200)


def _reply(response) -> tuple[str, int, str]:
    try:
        return response.url, response.status, response.text()
    except Exception:  # noqa: BLE001  (a reply of a page navigated away from)
        return response.url, response.status, "?"


def assert_only_two_origins(requests: list[str], *origins: str) -> None:
    allowed = {urlsplit(o).netloc for o in origins}
    foreign = [url for url in requests if urlsplit(url).netloc not in allowed]
    assert foreign == [], foreign


def assert_stitched(page, user, email):
    lead = wait_for(
        page,
        lambda: Lead.objects.filter(email=email, activities__kind="page_view")
        .filter(activities__name="Pricing Viewed")
        .first(),
    )
    assert lead is not None, (
        list(Activity.objects.values("kind", "name", "lead__email")),
        getattr(page, "console_lines", []),
        [_reply(r) for r in page.replies if r.request.method == "POST"],
    )
    assert (
        lead.external_id == user
        or Identity.objects.filter(lead=lead, kind="user_id", value=user).exists()
    )
    # the page view sent before identify (anonymous) is on the identified lead: stitched
    assert Identity.objects.filter(lead=lead, kind="anonymous_id").exists()
    kinds = sorted(lead.activities.values_list("kind", "name"))
    assert ("custom", "Pricing Viewed") in kinds
    assert any(kind == "page_view" for kind, _ in kinds)
    # no anonymous visitor record left behind
    assert not Lead.objects.filter(email__isnull=True, external_id__isnull=True).exists()
    return lead


def test_analytics_next_from_another_origin_lands_in_leadflow(
    page, live_server, host_site, sdk_key
):
    key = sdk_key()
    host_site.pages["/"] = analytics_next_page(leadflow=live_server.url, key=key, calls=BROWSE)
    requests, replies = watch(page)
    browse_then_identify(page, host_site.url + "/", sdk="segment", user="u1", email="u1@x.test")
    lead = assert_stitched(page, "u1", "u1@x.test")
    page_view = lead.activities.get(kind="page_view")
    assert page_view.properties["context"]["page"]["url"].startswith(host_site.url)
    posts = lambda: [r for r in replies if r.request.method == "POST"]  # noqa: E731
    assert wait_for(page, lambda: len(posts()) >= 3)
    assert {r.status for r in replies} == {200}  # settings and the three calls
    assert any("/v1/projects/" in url for url in requests)  # settings from LeadFlow
    assert_only_two_origins(requests, live_server.url, host_site.url)


def test_rudderstack_from_another_origin_lands_in_leadflow(page, live_server, host_site, sdk_key):
    key = sdk_key()
    host_site.pages["/"] = rudderstack_page(leadflow=live_server.url, key=key, calls=BROWSE)
    requests, replies = watch(page)
    browse_then_identify(page, host_site.url + "/", sdk="rudder", user="u2", email="u2@x.test")
    assert_stitched(page, "u2", "u2@x.test")
    assert any("/v1/sourceConfig/" in url for url in requests)  # source config from LeadFlow
    assert_only_two_origins(requests, live_server.url, host_site.url)


def test_consent_required_refuses_without_consent_and_stores_with_it(
    page, live_server, host_site, sdk_key
):
    key = sdk_key(consent=True)
    calls = BROWSE + "\n" + IDENTIFY % {"user": "u3", "email": "u3@x.test"}
    host_site.pages["/none"] = analytics_next_page(leadflow=live_server.url, key=key, calls=calls)
    requests, replies = watch(page)
    page.goto(host_site.url + "/none")
    posts = lambda: [r for r in replies if r.request.method == "POST"]  # noqa: E731
    assert wait_for(page, lambda: len(posts()) >= 3)
    sent = posts()
    assert len(sent) == 3
    assert {r.status for r in sent} == {400}
    assert {json.loads(r.text())["code"] for r in sent} == {"consent_required"}
    assert Activity.objects.count() == 0
    assert not Lead.objects.exists()

    # a new visitor (fresh storage) with consent in the context (a consent wrapper): stored
    page.evaluate("localStorage.clear()")
    page.context.clear_cookies()
    host_site.pages["/yes"] = analytics_next_page(
        leadflow=live_server.url, key=key, calls=BROWSE, consent=True
    )
    browse_then_identify(page, host_site.url + "/yes", sdk="segment", user="u4", email="u4@x.test")
    assert_stitched(page, "u4", "u4@x.test")

    # RudderStack's consent management (custom provider) carries it too
    page.evaluate("localStorage.clear()")
    page.context.clear_cookies()
    host_site.pages["/rudder"] = rudderstack_page(
        leadflow=live_server.url,
        key=key,
        calls=BROWSE,
        load_options=""",
  consentManagement: {enabled: true, provider: "custom", allowedConsentIds: ["analytics"]}""",
    )
    before = Activity.objects.count()
    page.goto(host_site.url + "/rudder")
    assert wait_for(page, lambda: Activity.objects.count() >= before + 2), page.console_lines
    page.evaluate('rudder.identify("u5", {email: "u5@x.test"})')
    assert_stitched(page, "u5", "u5@x.test")
    assert_only_two_origins(requests, live_server.url, host_site.url)

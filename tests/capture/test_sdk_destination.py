"""LeadFlow as the browser SDKs' destination: their settings endpoints, CORS per public key,
the bodies they send (text/plain, Basic auth), and the tracking-consent gate."""

import base64
import uuid

import orjson
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

from leadflow.apikeys import api_key_create, api_key_revoke, api_key_set_browser_settings
from leadflow.models import ApiKey
from leads.models import Activity, Identity, Lead
from privacy.models import Channel, ConsentEvent
from privacy.services import consent_record, unsubscribe_token

SITE = "https://www.example.com"
OTHER = "https://evil.example"


@pytest.fixture
def public_key(db):
    def make(origins=(SITE,), consent=False):
        created = api_key_create(
            name=f"web-{uuid.uuid4().hex[:6]}",
            scopes=["events:write"],
            kind=ApiKey.Kind.PUBLIC,
            allowed_origins=list(origins),
            tracking_consent_required=consent,
        )
        return created.secret, created.api_key

    return make


def basic(key):
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def send(client, path, body, *, key, origin=SITE, content_type="text/plain", **extra):
    headers = {"HTTP_AUTHORIZATION": basic(key), **extra}
    if origin:
        headers["HTTP_ORIGIN"] = origin
    return client.post(path, orjson.dumps(body), content_type=content_type, **headers)


def page_msg(anonymous_id="anon-1", context=None, **more):
    return {
        "type": "page",
        "messageId": f"m-{uuid.uuid4().hex}",
        "anonymousId": anonymous_id,
        "name": "Pricing",
        "properties": {"url": "https://www.example.com/pricing"},
        "context": context or {},
        **more,
    }


# --- settings endpoints -----------------------------------------------------------------------


def test_segment_settings_point_analytics_next_at_leadflow(client, public_key):
    secret, _ = public_key()
    reply = client.get(f"/v1/projects/{secret}/settings", HTTP_ORIGIN=SITE)
    assert reply.status_code == 200
    assert reply["Access-Control-Allow-Origin"] == SITE
    body = reply.json()
    assert list(body["integrations"]) == ["Segment.io"]  # no other destination
    segmentio = body["integrations"]["Segment.io"]
    assert segmentio["apiKey"] == secret
    assert segmentio["apiHost"] == "testserver/v1"
    assert segmentio["protocol"] == "http"
    assert body["plan"] == {}
    assert body["edgeFunction"] == {}
    assert body["metrics"]["sampleRate"] == 0  # no remote metrics to any host


def test_rudderstack_source_config_has_no_destinations(client, public_key):
    secret, key = public_key()
    reply = client.get(
        "/v1/sourceConfig/",
        {"p": "npm", "v": "3.34.1", "writeKey": secret, "lockIntegrationsVersion": "true"},
        HTTP_AUTHORIZATION=basic(secret),
        HTTP_ORIGIN=SITE,
    )
    assert reply.status_code == 200, reply.content
    assert reply["Access-Control-Allow-Origin"] == SITE
    source = reply.json()["source"]
    assert source["enabled"] is True
    assert source["destinations"] == []
    assert source["id"] == key.prefix
    assert source["config"]["statsCollection"]["errors"]["enabled"] is False
    # query only (no Authorization) works too
    assert client.get("/v1/sourceConfig", {"writeKey": secret}).status_code == 200


@pytest.mark.parametrize("which", ["unknown", "revoked", "secret", "malformed"])
def test_settings_for_a_key_that_is_not_an_active_public_key_are_404_json(
    client, public_key, make_api_key, which
):
    secret, key = public_key()
    if which == "revoked":
        api_key_revoke(key_id=key.pk)
    elif which == "secret":
        secret, _ = make_api_key("events:write")
    elif which == "unknown":
        secret = secret[:-4] + "AAAA"
    else:
        secret = "not-a-key"  # noqa: S105
    for reply in (
        client.get(f"/v1/projects/{secret}/settings", HTTP_ORIGIN=SITE),
        client.get("/v1/sourceConfig/", {"writeKey": secret}, HTTP_ORIGIN=SITE),
    ):
        assert reply.status_code == 404
        assert reply.json()["code"] == "not_found"
        assert secret not in reply.content.decode()
        assert "Access-Control-Allow-Origin" not in reply


def test_settings_refuse_an_unlisted_origin(client, public_key):
    secret, _ = public_key()
    reply = client.get(f"/v1/projects/{secret}/settings", HTTP_ORIGIN=OTHER)
    assert reply.status_code == 403
    assert reply.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in reply


# --- CORS and the Origin check ----------------------------------------------------------------


def test_preflight_is_answered_for_the_sdks_methods_and_headers(client):
    reply = client.options(
        "/v1/t",
        HTTP_ORIGIN=OTHER,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )
    assert reply.status_code == 204
    assert reply["Access-Control-Allow-Origin"] == OTHER
    allowed = reply["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "content-type", "x-retry-count", "sentat", "rsa-retry-attempt"):
        assert header in allowed
    assert "POST" in reply["Access-Control-Allow-Methods"]


def test_listed_origin_gets_the_cors_header_and_text_plain_is_parsed(client, public_key):
    secret, _ = public_key()
    reply = send(client, "/v1/p", page_msg(), key=secret)
    assert reply.status_code == 200, reply.content
    assert reply["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in reply["Vary"]
    assert Activity.objects.filter(kind="page_view").count() == 1


def test_json_with_basic_auth_as_rudderstack_sends_it(client, public_key):
    secret, _ = public_key()
    body = {**page_msg(), "channel": "web", "rudderId": "r-1"}
    reply = send(
        client, "/v1/page", body, key=secret, content_type="application/json;charset=UTF-8"
    )
    assert reply.status_code == 200, reply.content
    assert reply["Access-Control-Allow-Origin"] == SITE


def test_unlisted_origin_is_refused_server_side_and_gets_no_cors(client, public_key):
    secret, _ = public_key()
    reply = send(
        client, "/v1/t", {**page_msg(), "type": "track", "event": "X"}, key=secret, origin=OTHER
    )
    assert reply.status_code == 403
    assert reply.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in reply
    reply = send(client, "/v1/batch", {"batch": [page_msg()]}, key=secret, origin=OTHER)
    assert reply.status_code == 403
    assert Activity.objects.count() == 0


def test_a_server_without_origin_still_sends(client, public_key):
    secret, _ = public_key()
    reply = send(client, "/v1/page", page_msg(), key=secret, origin=None)
    assert reply.status_code == 200
    assert "Access-Control-Allow-Origin" not in reply


def test_a_key_without_origins_is_not_readable_by_browsers(client, public_key):
    secret, _ = public_key(origins=())
    reply = send(client, "/v1/page", page_msg(), key=secret, origin=OTHER)
    assert reply.status_code == 200
    assert "Access-Control-Allow-Origin" not in reply


def test_origins_are_checked_and_normalised(db):
    created = api_key_create(
        name="w",
        scopes=["events:write"],
        kind="public",
        allowed_origins="HTTPS://WWW.Example.com:443/\nhttp://localhost:8080\n\n",
    )
    assert created.api_key.allowed_origins == "https://www.example.com\nhttp://localhost:8080"
    for bad in ("www.example.com", "https://x.example/path", "https://*.example.com", "ftp://x"):
        with pytest.raises(ValidationError) as info:
            api_key_create(name="w", scopes=["events:write"], kind="public", allowed_origins=bad)
        assert "allowed_origins" in info.value.message_dict
    with pytest.raises(ValidationError):
        api_key_create(name="s", scopes=["events:write"], allowed_origins=SITE)


def test_changed_origins_apply_at_once_in_this_process(client, public_key):
    secret, key = public_key()
    assert send(client, "/v1/page", page_msg(), key=secret, origin=OTHER).status_code == 403
    api_key_set_browser_settings(
        key_id=key.pk, allowed_origins=[SITE, OTHER], tracking_consent_required=False
    )
    assert send(client, "/v1/page", page_msg(), key=secret, origin=OTHER).status_code == 200


def test_create_api_key_command_takes_origins(db, capsys):
    call_command(
        "create_api_key",
        "--name=site",
        "--public",
        "--origin=https://a.example",
        "--origin=https://b.example",
        "--tracking-consent-required",
    )
    key = ApiKey.objects.get(name="site")
    assert key.allowed_origins.split() == ["https://a.example", "https://b.example"]
    assert key.tracking_consent_required is True


def test_settings_page_creates_a_public_key_with_origins(client, django_user_model):
    from django.contrib.auth.models import Permission

    admin = django_user_model.objects.create_user("keys", password="pw")
    admin.user_permissions.add(Permission.objects.get(codename="manage_api_keys"))
    client.force_login(admin)
    reply = client.post(
        "/settings/api-keys/new/",
        {
            "name": "site",
            "kind": "public",
            "scopes": ["events:write"],
            "allowed_origins": "https://a.example\nnot an origin",
        },
    )
    assert reply.status_code == 422
    assert "not an origin" in reply.content.decode()
    assert not ApiKey.objects.filter(name="site").exists()
    reply = client.post(
        "/settings/api-keys/new/",
        {
            "name": "site",
            "kind": "public",
            "scopes": ["events:write"],
            "allowed_origins": "https://a.example",
            "tracking_consent_required": "on",
        },
    )
    assert reply.status_code == 302
    key = ApiKey.objects.get(name="site")
    assert (key.allowed_origins, key.tracking_consent_required) == ("https://a.example", True)


# --- analytics-next's chunks ------------------------------------------------------------------


def test_analytics_next_chunks_redirect_to_the_vendored_files(client):
    from leads.api.browser import analytics_next_chunks

    name = sorted(analytics_next_chunks())[0]
    reply = client.get(f"/analytics-next/bundles/{name}")
    assert reply.status_code == 302
    assert reply["Location"].endswith(f"vendor/analytics-next/bundles/{name}")
    assert client.get("/analytics-next/bundles/nope.js").status_code == 404


# --- consent ----------------------------------------------------------------------------------

SEGMENT_CONSENT = {"consent": {"categoryPreferences": {"Analytics": True, "Advertising": False}}}
RUDDER_CONSENT = {"consentManagement": {"provider": "custom", "allowedConsentIds": ["analytics"]}}


def test_consent_required_refuses_messages_without_consent_with_a_code(client, public_key):
    secret, _ = public_key(consent=True)
    refused = [
        page_msg("a-none"),
        page_msg("a-denied", {"consent": {"categoryPreferences": {"Analytics": False}}}),
        page_msg("a-empty", {"consentManagement": {"allowedConsentIds": []}}),
    ]
    accepted = [page_msg("a-seg", SEGMENT_CONSENT), page_msg("a-rud", RUDDER_CONSENT)]
    reply = send(client, "/v1/batch", {"batch": refused + accepted}, key=secret)
    assert reply.status_code == 200
    body = reply.json()
    assert body["stored"] == 2
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (0, "consent_required"),
        (1, "consent_required"),
        (2, "consent_required"),
    ]
    assert set(Identity.objects.filter(kind="anonymous_id").values_list("value", flat=True)) == {
        "a-seg",
        "a-rud",
    }
    # one at a time: a 400 naming the code (what analytics-next's /v1/p gets)
    reply = send(client, "/v1/p", page_msg("a-one"), key=secret)
    assert reply.status_code == 400
    assert reply.json()["code"] == "consent_required"


def test_consent_not_required_accepts_without_context(client, public_key):
    secret, _ = public_key(consent=False)
    assert send(client, "/v1/p", page_msg("a-free"), key=secret).status_code == 200


def test_withdrawn_tracking_consent_is_refused_whatever_the_context(client, public_key):
    secret, _ = public_key(consent=False)
    assert send(client, "/v1/p", page_msg("a-w"), key=secret).status_code == 200
    ident = {
        "type": "identify",
        "messageId": "id-1",
        "anonymousId": "a-w",
        "userId": "u-w",
        "traits": {"email": "w@example.com"},
    }
    assert send(client, "/v1/i", ident, key=secret).status_code == 200
    lead = Lead.objects.get(email="w@example.com")
    consent_record(lead_id=lead.pk, channel=Channel.TRACKING, granted=False, source="test")
    before = Activity.objects.count()
    for message in (
        page_msg("a-w", SEGMENT_CONSENT),  # by anonymous id, with consent context
        page_msg("a-new", RUDDER_CONSENT, userId="u-w"),  # by user id
        {**page_msg("a-other"), "type": "identify", "traits": {"email": "w@example.com"}},
    ):
        reply = send(client, f"/v1/{message['type'][0]}", message, key=secret)
        assert reply.status_code == 400, reply.content
        assert reply.json()["code"] == "consent_withdrawn"
    assert Activity.objects.count() == before
    # given again (e.g. a form's tracking consent): accepted again
    consent_record(lead_id=lead.pk, channel=Channel.TRACKING, granted=True, source="test")
    assert send(client, "/v1/p", page_msg("a-w"), key=secret).status_code == 200


def test_withdraw_all_on_the_unsubscribe_page_stops_tracking_at_once(client, public_key):
    secret, _ = public_key()
    ident = {
        "type": "identify",
        "messageId": "id-2",
        "anonymousId": "a-u",
        "userId": "u-u",
        "traits": {"email": "u@example.com"},
    }
    assert send(client, "/v1/i", ident, key=secret).status_code == 200
    lead = Lead.objects.get(email="u@example.com")
    page = Client().get(f"/privacy/unsubscribe/{unsubscribe_token(lead_id=lead.pk)}/")
    assert "Withdraw all my consent" in page.content.decode()
    reply = Client().post(
        f"/privacy/unsubscribe/{unsubscribe_token(lead_id=lead.pk)}/", {"scope": "all"}
    )
    assert reply.status_code == 200
    withdrawn = set(
        ConsentEvent.objects.filter(lead=lead, granted=False).values_list("channel", flat=True)
    )
    assert withdrawn == set(Channel.values)
    lead.refresh_from_db()
    assert lead.email_opt_out is True  # the unsubscribe is recorded
    reply = send(client, "/v1/p", page_msg("a-u", SEGMENT_CONSENT), key=secret)
    assert reply.status_code == 400
    assert reply.json()["code"] == "consent_withdrawn"


def test_a_secret_key_is_not_gated(client, make_api_key, public_key):
    _, key = public_key(consent=True)
    secret, _ = make_api_key("events:write")
    reply = send(client, "/v1/page", page_msg("a-srv"), key=secret, origin=None)
    assert reply.status_code == 200


def test_admin_creates_and_edits_a_public_keys_origins(client, django_user_model):
    from leadflow.models import AuditEvent

    boss = django_user_model.objects.create_superuser("boss", "boss@example.test", "pw")
    client.force_login(boss)
    reply = client.post(
        "/admin/leadflow/apikey/add/",
        {
            "name": "site",
            "kind": "public",
            "scope_choices": ["events:write"],
            "rate_limit": "",
            "allowed_origins": "https://a.example/",
        },
        follow=True,
    )
    assert reply.status_code == 200
    key = ApiKey.objects.get(name="site")
    assert key.allowed_origins == "https://a.example"
    change = f"/admin/leadflow/apikey/{key.pk}/change/"
    reply = client.post(change, {"allowed_origins": "nope"})
    assert reply.status_code == 200  # the form again, with the error
    assert "is not an origin" in reply.content.decode()
    reply = client.post(
        change,
        {
            "allowed_origins": "https://a.example\nhttps://b.example",
            "tracking_consent_required": "on",
        },
    )
    assert reply.status_code == 302
    key.refresh_from_db()
    assert key.allowed_origins.split() == ["https://a.example", "https://b.example"]
    assert key.tracking_consent_required is True
    assert AuditEvent.objects.get(action="apikey.change").actor == boss


def test_settings_page_changes_a_public_keys_browser_settings(
    client, django_user_model, public_key
):
    from django.contrib.auth.models import Permission

    _, key = public_key()
    admin = django_user_model.objects.create_user("keys2", password="pw")
    admin.user_permissions.add(Permission.objects.get(codename="manage_api_keys"))
    client.force_login(admin)
    assert (
        f"/settings/api-keys/{key.pk}/browser/"
        in client.get("/settings/api-keys/").content.decode()
    )
    url = f"/settings/api-keys/{key.pk}/browser/"
    assert client.post(url, {"allowed_origins": "https://x.example/a"}).status_code == 422
    reply = client.post(
        url, {"allowed_origins": "https://x.example", "tracking_consent_required": "on"}
    )
    assert reply.status_code == 302
    key.refresh_from_db()
    assert (key.allowed_origins, key.tracking_consent_required) == ("https://x.example", True)

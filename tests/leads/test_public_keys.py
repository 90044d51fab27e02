"""Public (browser) and secret (server) keys (issue 16): what a key in page source may change.

The integrator's attack: an ``events:write`` key, public in a website's source, changed a known
lead's name, company and phone and attached an "Unsubscribed" activity, by naming an e-mail.
"""

import base64
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from leadflow.models import ApiKey
from leads.models import ActivityKind, IdentifyReceipt, Identity, Lead
from tests.leadflow.test_apikeys import ENDPOINTS
from tests.leads.factories import LeadFactory


def sign(secret, user_id):
    """What the site's backend does (docs/api.md): hex HMAC-SHA256 of the userId."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def public(make_api_key):
    secret, key = make_api_key("events:write", kind="public")
    return secret, key.identity_secret


@pytest.fixture
def victim(db):
    lead = LeadFactory(
        email="vera@victim.example",
        external_id="u-vera",
        first_name="Vera",
        last_name="Victim",
        company="Victim GmbH",
        phone="+49 30 1234",
    )
    Identity.objects.create(lead=lead, kind=Identity.Kind.ANONYMOUS_ID, value="vera-browser")
    return lead


def post(path, body, key):
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    return Client().post(
        path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=auth
    )


def msg(kind, **fields):
    base = {"type": kind, "messageId": str(uuid.uuid4())}
    base.update(fields)
    return base


HACK = {"firstName": "Mallory", "company": "Evil Ltd", "phone": "+1 666", "plan": "free"}


def contact(lead):
    lead.refresh_from_db()
    return (
        lead.first_name,
        lead.last_name,
        lead.company,
        lead.phone,
        lead.email_opt_out,
        lead.traits,
        lead.external_id,
    )


@pytest.mark.django_db
def test_a_public_key_creates_a_new_lead_with_its_traits_and_merges_its_anonymous_visit(public):
    key, _ = public
    batch = [
        msg("page", anonymousId="a-new", name="Pricing"),
        msg(
            "identify", userId="u-new", anonymousId="a-new", traits={"email": "n@x.example", **HACK}
        ),
        msg("track", userId="u-new", event="Form Submitted"),
    ]
    response = post("/v1/batch", {"batch": batch}, key)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "stored": 2,
        "duplicates": 0,
        "identified": 1,
        "grouped": 0,
        "aliased": 0,
    }
    lead = Lead.objects.get(external_id="u-new")
    assert (lead.email, lead.first_name, lead.company, lead.phone, lead.traits) == (
        "n@x.example",
        "Mallory",
        "Evil Ltd",
        "+1 666",
        {"plan": "free"},
    )
    # anonymous ids are fine: the visit before the identify moved to the new lead
    assert sorted(lead.activities.values_list("kind", flat=True)) == ["form_submit", "page_view"]
    assert Identity.objects.get(value="a-new").lead == lead
    assert not Lead.objects.filter(email__isnull=True, external_id__isnull=True).exists()


@pytest.mark.django_db
def test_the_integrators_attack_changes_nothing_and_the_reply_says_what_was_ignored(public, victim):
    """Naming the victim's e-mail (and then her userId) with the public key, unsigned."""
    key, _ = public
    before = contact(victim)
    batch = [
        msg("identify", anonymousId="a-mallory", traits={"email": victim.email, **HACK}),
        msg("identify", userId="u-vera", traits={"lastName": "Pwned", "email_opt_out": True}),
        msg("track", userId="u-vera", event="Unsubscribed"),
        msg("track", userId="u-vera", event="Email Bounced"),
        msg("track", userId="u-vera", anonymousId="a-mallory", event="Pricing Viewed"),
    ]
    response = post("/v1/batch", {"batch": batch}, key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert contact(victim) == before  # name, company, phone, consent, traits: unchanged
    assert not victim.activities.filter(kind__in=["unsubscribe", "email_bounce"]).exists()
    assert not Identity.objects.filter(value="a-mallory", lead=victim).exists()
    assert not IdentifyReceipt.objects.exists()  # nothing of the identifies was applied
    # reported per item: never a silent success for dropped data
    assert (body["stored"], body["identified"]) == (1, 0)  # the plain activity is recorded
    assert [(e["index"], e["code"], e["field"]) for e in body["errors"]] == [
        (2, "identity_signature_required", "context.userHash"),
        (3, "identity_signature_required", "context.userHash"),
    ]
    assert "Unsubscribed was not recorded" in body["errors"][0]["message"]
    ignored = {e["index"]: e for e in body["ignored"]}
    assert sorted(ignored) == [0, 1, 4]
    assert ignored[0]["ignored_fields"] == [
        "traits.company",
        "traits.email",
        "traits.firstName",
        "traits.phone",
        "traits.plan",
        "anonymousId",
    ]
    assert ignored[1]["ignored_fields"] == ["traits.email_opt_out", "traits.lastName"]
    assert ignored[4]["ignored_fields"] == ["anonymousId"]  # its activity is stored
    assert {e["code"] for e in ignored.values()} == {"identity_signature_required"}
    assert "Not applied: traits.company" in ignored[0]["message"]
    assert victim.activities.get().name == "Pricing Viewed"


@pytest.mark.django_db
def test_the_single_endpoints_refuse_and_report_the_same(public, victim):
    key, _ = public
    before = contact(victim)
    response = post("/v1/identify", msg("identify", userId="u-vera", traits=HACK), key)
    assert response.status_code == 200, response.content
    assert response.json()["ignored"][0]["ignored_fields"] == [
        "traits.company",
        "traits.firstName",
        "traits.phone",
        "traits.plan",
    ]
    response = post("/v1/track", msg("track", userId="u-vera", event="Unsubscribed"), key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "identity_signature_required"
    assert contact(victim) == before
    assert not victim.activities.exists()


@pytest.mark.django_db
def test_with_a_valid_identity_signature_the_public_key_may(public, victim):
    key, identity_secret = public
    signed = {"userHash": sign(identity_secret, "u-vera")}
    batch = [
        msg("identify", userId="u-vera", anonymousId="vera-phone", traits=HACK, context=signed),
        msg("track", userId="u-vera", event="Unsubscribed", context=signed),
    ]
    response = post("/v1/batch", {"batch": batch}, key)
    assert response.json() == {
        "success": True,
        "stored": 1,
        "duplicates": 0,
        "identified": 1,
        "grouped": 0,
        "aliased": 0,
    }
    victim.refresh_from_db()
    assert (victim.first_name, victim.company, victim.phone) == ("Mallory", "Evil Ltd", "+1 666")
    assert victim.activities.get().kind == ActivityKind.UNSUBSCRIBE
    assert Identity.objects.get(value="vera-phone").lead == victim
    # a userId the lead knows as an identity (not its external id) counts too
    Identity.objects.create(lead=victim, kind=Identity.Kind.USER_ID, value="vera-2")
    other = {"userHash": sign(identity_secret, "vera-2").upper()}  # hex in any case
    post(
        "/v1/identify",
        msg("identify", userId="vera-2", traits={"title": "CEO"}, context=other),
        key,
    )
    victim.refresh_from_db()
    assert victim.job_title == "CEO"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "how", ["missing", "garbage", "other user", "other key's secret", "not hex", "empty"]
)
def test_a_wrong_missing_or_other_users_signature_changes_nothing(
    how, public, victim, make_api_key
):
    key, identity_secret = public
    _, other_key = make_api_key("events:write", kind="public")
    user_hash = {
        "missing": None,
        "garbage": "0" * 64,
        "other user": sign(identity_secret, "u-mallory"),
        "other key's secret": sign(other_key.identity_secret, "u-vera"),
        "not hex": "☃" * 64,
        "empty": "",
    }[how]
    context = {} if user_hash is None else {"userHash": user_hash}
    before = contact(victim)
    batch = [
        msg("identify", userId="u-vera", traits=HACK, context=context),
        msg("track", userId="u-vera", event="Unsubscribed", context=context),
    ]
    body = post("/v1/batch", {"batch": batch}, key).json()
    assert contact(victim) == before
    assert not victim.activities.exists()
    assert [e["index"] for e in body["ignored"]] == [0]
    assert [e["index"] for e in body["errors"]] == [1]


@pytest.mark.django_db
def test_a_signature_vouches_for_the_user_id_not_for_an_email(public, victim):
    """Mallory's own valid signature (her site account) with Vera's e-mail: Vera's lead is not
    hers, so nothing changes and her userId is not linked to it."""
    key, identity_secret = public
    context = {"userHash": sign(identity_secret, "u-mallory")}
    traits = {"email": victim.email, **HACK}
    before = contact(victim)
    body = post(
        "/v1/batch",
        {"batch": [msg("identify", userId="u-mallory", traits=traits, context=context)]},
        key,
    ).json()
    assert contact(victim) == before
    assert "userId" in body["ignored"][0]["ignored_fields"]
    assert not Identity.objects.filter(value="u-mallory").exists()


@pytest.mark.django_db
def test_a_public_key_fills_an_anonymous_visitors_own_lead(public):
    """The anonymous lead the browser created is its own record: identifying it needs no
    signature (the normal sign-up flow)."""
    key, _ = public
    post("/v1/page", msg("page", anonymousId="a-7", name="Home"), key)
    traits = {"email": "new@x.example", "firstName": "Nia"}
    body = post("/v1/batch", {"batch": [msg("identify", anonymousId="a-7", traits=traits)]}, key)
    assert body.json()["identified"] == 1
    lead = Identity.objects.get(value="a-7").lead
    assert (lead.email, lead.first_name, lead.activities.count()) == ("new@x.example", "Nia", 1)


@pytest.mark.django_db
@pytest.mark.parametrize("signed", [False, True])
def test_a_new_user_signing_up_after_an_anonymous_visit_gets_one_lead(public, signed):
    key, identity_secret = public
    post("/v1/page", msg("page", anonymousId="a-8", name="Home"), key)
    context = {"userHash": sign(identity_secret, "u-8")} if signed else {}
    traits = {"email": "u8@x.example", "company": "Eight"}
    identify = msg("identify", userId="u-8", anonymousId="a-8", traits=traits, context=context)
    body = post("/v1/batch", {"batch": [identify]}, key).json()
    assert body == {
        "success": True,
        "stored": 0,
        "duplicates": 0,
        "identified": 1,
        "grouped": 0,
        "aliased": 0,
    }
    lead = Lead.objects.get(external_id="u-8")
    assert (lead.email, lead.company, lead.activities.count()) == ("u8@x.example", "Eight", 1)
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_a_secret_key_behaves_as_before(make_api_key, victim):
    """Every key made before issue 16 is secret: a server's identify still updates the lead."""
    secret, key = make_api_key("events:write")
    assert key.kind == ApiKey.Kind.SECRET
    batch = [
        msg("identify", anonymousId="a-crm", traits={"email": victim.email, **HACK}),
        msg("track", userId="u-vera", event="Unsubscribed"),
    ]
    body = post("/v1/batch", {"batch": batch}, secret).json()
    assert body == {
        "success": True,
        "stored": 1,
        "duplicates": 0,
        "identified": 1,
        "grouped": 0,
        "aliased": 0,
    }
    victim.refresh_from_db()
    assert (victim.first_name, victim.company, victim.phone) == ("Mallory", "Evil Ltd", "+1 666")
    assert victim.activities.get().kind == ActivityKind.UNSUBSCRIBE
    assert Identity.objects.get(value="a-crm").lead == victim


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [*ENDPOINTS, ("GET", "/api/schema/?format=json")])
def test_a_public_key_is_refused_on_every_rest_endpoint(method, path, make_api_key, victim):
    secret, _ = make_api_key("events:write", kind="public")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    response = getattr(Client(), method.lower())(path, {}, content_type="application/json", **auth)
    assert response.status_code == 403, (method, path, response.content)
    error = response.json()["error"]
    assert error["code"] == "public_key_not_allowed"
    assert "/v1/" in error["message"]


@pytest.mark.django_db
def test_the_signature_is_compared_in_constant_time(monkeypatch, public, victim):
    key, identity_secret = public
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module the policy calls it from
    good = sign(identity_secret, "u-vera")
    for user_hash in (good, "f" * 64):
        context = {"userHash": user_hash}
        post("/v1/identify", msg("identify", userId="u-vera", traits={}, context=context), key)
    # (the key lookup compares through it too: look for the signature's comparisons)
    signatures = [call for call in calls if isinstance(call[0], bytes)]
    assert signatures == [(good.encode(), good.encode()), (good.encode(), b"f" * 64)]


@pytest.mark.django_db
def test_the_command_prints_a_public_key_and_its_identity_secret_once():
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "--name", "website", "--public", stdout=out, stderr=err)
    key, identity_secret = out.getvalue().split()
    stored = ApiKey.objects.get(name="website")
    assert (stored.kind, stored.scopes, stored.identity_secret) == (
        "public",
        ["events:write"],
        identity_secret,
    )
    assert identity_secret.startswith("lfid_")
    assert "identity secret" in err.getvalue()
    assert post("/v1/page", msg("page", anonymousId="a-1"), key).status_code == 200
    with pytest.raises(CommandError, match="public key may hold only events:write"):
        call_command("create_api_key", "--name", "x", "--public", "--scopes", "leads:read")
    call_command("create_api_key", "--name", "server", "--scopes", "events:write", stdout=out)
    assert ApiKey.objects.get(name="server").identity_secret == ""


@pytest.mark.django_db
def test_the_admin_creates_a_public_key_and_shows_its_identity_secret_once(client):
    from leadflow.models import User

    client.force_login(User.objects.create_superuser("boss", "boss@example.test", "pw"))
    form = {"name": "site", "kind": "public", "rate_limit": ""}
    refused = client.post("/admin/leadflow/apikey/add/", {**form, "scope_choices": ["leads:read"]})
    assert "A public key may hold only events:write." in refused.content.decode()
    response = client.post(
        "/admin/leadflow/apikey/add/", {**form, "scope_choices": ["events:write"]}, follow=True
    )
    shown = " ".join(str(m) for m in response.context["messages"])
    key = ApiKey.objects.get(name="site")
    assert key.kind == "public"
    assert key.identity_secret in shown
    assert re.search(r"lf_[0-9a-f]{8}_", shown)


def _doc_block(marker):
    """The fenced code block of docs/api.md that contains ``marker``."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    return next(b for b in re.findall(r"```\w*\n(.*?)```", text, re.S) if marker in b)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_the_documented_python_and_node_snippets_sign_as_the_server_checks():
    from leads.writepolicy import Caller

    secret = "lfid_example-Secret_42"  # noqa: S105
    caller = Caller(public=True, identity_secret=secret)
    namespace = {"IDENTITY_SECRET": secret, "user": SimpleNamespace(id=42)}
    exec(_doc_block("user_hash = hmac.new"), namespace)  # noqa: S102  (our own docs)
    node = _doc_block("createHmac")
    script = f"const user = {{ id: 42 }};\n{node}\nconsole.log(userHash);"
    env = {"PATH": os.environ["PATH"], "LEADFLOW_IDENTITY_SECRET": secret}
    done = subprocess.run(  # noqa: S603
        [shutil.which("node") or "node", "-e", script],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert caller.signs("42", namespace["user_hash"])
    assert caller.signs("42", done.stdout.strip())
    assert not caller.signs("43", done.stdout.strip())


def test_a_public_key_cannot_set_a_known_leads_company_by_group(public, victim):
    key, identity_secret = public
    before = contact(victim)
    group = msg("group", userId="u-vera", groupId="evil", traits={"name": "Evil Ltd"})
    body = post("/v1/batch", {"batch": [group]}, key).json()
    assert contact(victim) == before
    assert body["grouped"] == 0
    assert body["ignored"][0]["index"] == 0
    assert body["ignored"][0]["code"] == "identity_signature_required"
    assert "groupId" in body["ignored"][0]["ignored_fields"]
    # signed by the site's server for that user: applied
    signed = msg(
        "group",
        userId="u-vera",
        groupId="acme",
        traits={"name": "Acme AG"},
        context={"userHash": sign(identity_secret, "u-vera")},
    )
    assert post("/v1/batch", {"batch": [signed]}, key).json()["grouped"] == 1
    victim.refresh_from_db()
    assert victim.company == "Acme AG"


def test_a_public_key_cannot_merge_known_leads_by_alias(public, victim):
    key, identity_secret = public
    other = LeadFactory(email="mallory@evil.example", external_id="u-mallory")
    # even signed for the attacker's own userId: the previousId's lead is someone else
    alias = msg(
        "alias",
        userId="u-mallory",
        previousId="u-vera",
        context={"userHash": sign(identity_secret, "u-mallory")},
    )
    body = post("/v1/batch", {"batch": [alias]}, key).json()
    assert body["aliased"] == 0
    assert body["ignored"][0]["ignored_fields"] == ["previousId"]
    assert Lead.objects.filter(pk__in=[victim.pk, other.pk]).count() == 2
    assert not Identity.objects.filter(value="u-vera").exclude(lead=victim).exists()


def test_a_public_key_may_alias_its_own_anonymous_visitor(public):
    key, _identity_secret = public
    post("/v1/batch", {"batch": [msg("page", anonymousId="anon-7", name="Pricing")]}, key)
    visitor = Identity.objects.get(value="anon-7").lead_id
    body = post(
        "/v1/batch", {"batch": [msg("alias", userId="u-new-7", previousId="anon-7")]}, key
    ).json()
    assert body["aliased"] == 1
    assert "ignored" not in body
    assert Lead.objects.get(pk=visitor).external_id == "u-new-7"


@pytest.mark.django_db
def test_one_visitor_cannot_use_up_a_public_keys_limit(make_api_key, settings):
    """A public key is in every page's source: each client IP gets a share of its own, and a
    sender over it is refused without counting against the key, so others still get in."""
    settings.LEADFLOW_PUBLIC_KEY_IP_RATE_LIMIT = 3
    secret, _ = make_api_key("events:write", kind="public", rate_limit=5)
    auth = "Basic " + base64.b64encode(f"{secret}:".encode()).decode()

    def send(ip):
        body = json.dumps(msg("page", anonymousId=f"anon-{uuid.uuid4()}", name="Home"))
        return Client(REMOTE_ADDR=ip).post(
            "/v1/page", data=body, content_type="application/json", HTTP_AUTHORIZATION=auth
        )

    flood = [send("203.0.113.9").status_code for _ in range(6)]
    assert flood == [200, 200, 200, 429, 429, 429]
    assert [send("198.51.100.4").status_code for _ in range(3)] == [200, 200, 429]  # key: 5


@pytest.mark.django_db
def test_a_secret_key_has_no_per_ip_share(make_api_key, settings):
    settings.LEADFLOW_PUBLIC_KEY_IP_RATE_LIMIT = 1
    secret, _ = make_api_key("events:write", rate_limit=3)
    statuses = [
        post("/v1/page", msg("page", anonymousId="a-1", name="Home"), secret).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]

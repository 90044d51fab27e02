"""API keys: hashed at rest, scopes, revocation, audit, the command and the per-key rate limit."""

import io
import re
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from leadflow import apikeys, ratelimit
from leadflow.apikeys import Scope, api_key_revoke, hash_key
from leadflow.models import ApiKey, AuditEvent
from tests.leads.factories import LeadFactory


def bearer(secret):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.django_db
def test_key_is_stored_hashed_and_creation_is_audited(make_api_key):
    secret, key = make_api_key("leads:read", "events:write")
    assert re.fullmatch(r"lf_[0-9a-f]{8}_[\w-]{40,}", secret)
    stored = ApiKey.objects.get(pk=key.pk)
    assert secret not in {stored.hashed_key, stored.prefix, stored.name}
    assert stored.hashed_key == hash_key(secret)
    assert stored.scopes == ["events:write", "leads:read"]
    assert stored.user.username == f"api:{key.name}"
    audit = AuditEvent.objects.get(action="apikey.create")
    assert audit.target_id == str(key.pk)
    assert audit.details["scopes"] == ["events:write", "leads:read"]
    assert secret not in str(audit.details)


@pytest.mark.django_db
def test_command_prints_the_key_once_and_it_works():
    out = io.StringIO()
    call_command(
        "create_api_key", "--name", "website", "--scopes", "leads:read,events:write", stdout=out
    )
    secret = out.getvalue().strip()
    lead = LeadFactory()
    response = bearer(secret).get(f"/api/v1/leads/{lead.pk}/")
    assert response.status_code == 200, response.content
    assert response.json()["email"] == lead.email
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_key", "--name", "x", "--scopes", "leads:everything")


@pytest.mark.django_db
def test_revoked_key_is_refused_and_revocation_is_audited(make_api_key):
    secret, key = make_api_key("leads:read")
    assert bearer(secret).get("/api/v1/leads/").status_code == 200
    api_key_revoke(key_id=key.pk)
    api_key_revoke(key_id=key.pk)  # twice is a no-op
    response = bearer(secret).get("/api/v1/leads/")
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "invalid_api_key", "message": "Unknown or revoked API key."}
    }
    assert AuditEvent.objects.filter(action="apikey.revoke", target_id=str(key.pk)).count() == 1


@pytest.mark.django_db
def test_other_processes_honour_a_revocation_within_the_cache_delay(
    make_api_key, settings, monkeypatch, django_assert_num_queries
):
    """Each process reuses a checked key for LEADFLOW_API_KEY_CACHE_SECONDS: no key or
    permission query on the next request, and a revocation made elsewhere (here: straight in
    the database, as another process would) is honoured once that delay has passed."""
    settings.LEADFLOW_API_KEY_CACHE_SECONDS = 5
    clock = [1000.0]
    monkeypatch.setattr(apikeys.time, "monotonic", lambda: clock[0])
    secret, key = make_api_key("leads:read")
    assert apikeys.api_key_lookup(secret) is not None  # loads key, user and permissions
    with django_assert_num_queries(0):
        cached = apikeys.api_key_lookup(secret)
        assert cached is not None
        assert cached.user.has_perm("leads.view_lead")
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    clock[0] += 4.9
    assert apikeys.api_key_lookup(secret) is not None  # still inside the stated delay
    clock[0] += 0.2
    assert apikeys.api_key_lookup(secret) is None
    assert bearer(secret).get("/api/v1/leads/").status_code == 401


@pytest.mark.django_db
def test_wrong_secret_with_a_real_prefix_is_refused(make_api_key):
    secret, _ = make_api_key("leads:read")
    assert bearer(secret[:-4] + "AAAA").get("/api/v1/leads/").status_code == 401
    assert bearer("not-a-key").get("/api/v1/leads/").status_code == 401


@pytest.mark.django_db
def test_basic_auth_with_the_key_as_user_name_works(make_api_key):
    secret, _ = make_api_key("leads:read")
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION="Basic " + __import__("base64").b64encode(f"{secret}:".encode()).decode()
    )
    assert client.get("/api/v1/leads/").status_code == 200


def _sample(param: re.Match[str]) -> str:
    """A value for a path parameter: an id, or a currency code for exchange rates."""
    return "HUF" if param.group(1) == "currency" else "1"


def _api_endpoints():
    """Every (method, path) of the REST API, from the OpenAPI generator (all apps)."""
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    found = []
    for path, _path_regex, method, _view in generator._get_paths_and_endpoints():
        if path.startswith("/api/v1/"):
            found.append((method, re.sub(r"\{([^}]+)\}", _sample, path)))
    return sorted(set(found))


ENDPOINTS = _api_endpoints()


def test_the_endpoint_list_is_complete():
    paths = {p for _m, p in ENDPOINTS}
    assert "/api/v1/leads/" in paths
    assert "/api/v1/leads/1/mark-mql/" in paths
    assert "/api/v1/events/" in paths
    assert len(ENDPOINTS) > 20


ALL_SCOPES = [scope.value for scope in Scope]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_refuses_missing_revoked_and_unscoped_keys(method, path, make_api_key):
    call = lambda client: getattr(client, method.lower())(path, {}, format="json")  # noqa: E731
    missing = call(APIClient())
    assert missing.status_code == 401, (method, path, missing.content)
    assert missing.json()["error"]["code"] == "not_authenticated"

    secret, key = make_api_key(*ALL_SCOPES)
    api_key_revoke(key_id=key.pk)
    revoked = call(bearer(secret))
    assert revoked.status_code == 401, (method, path)
    assert revoked.json()["error"]["code"] == "invalid_api_key"

    # a key holding every scope but the one this endpoint needs
    needed = _needed_scope(method, path)
    assert needed in ALL_SCOPES, (method, path, "every endpoint is open to some scope")
    secret, _ = make_api_key(*[s for s in ALL_SCOPES if s != needed])
    wrong = call(bearer(secret))
    assert wrong.status_code == 403, (method, path, wrong.content)
    assert wrong.json()["error"]["code"] == "insufficient_scope"
    assert needed in wrong.json()["error"]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_lets_a_key_with_its_scope_through_as_the_key_user(
    method, path, make_api_key, manager
):
    """Only the needed scope, on a key acting as a manager: past authentication and the scope
    check; what follows is the user's role (403 ``permission_denied``), the object (404) or the
    body (400) — never a scope or authentication refusal."""
    secret, _ = make_api_key(_needed_scope(method, path), user=manager)
    response = getattr(bearer(secret), method.lower())(path, {}, format="json")
    assert response.status_code not in (401, 405), (method, path, response.content)
    if response.status_code == 403:
        assert response.json()["error"]["code"] != "insufficient_scope", (method, path)


# path prefix -> (scope for GET, scope for other methods); leadflow.apikeys.Scope declares them
SCOPE_AREAS = {
    "/api/v1/events": (None, "events:write"),
    "/api/v1/accounts": ("accounts:read", "accounts:write"),
    "/api/v1/leads": ("leads:read", "leads:write"),
    "/api/v1/handover": ("handover:read", "handover:write"),  # also /handovers/
    "/api/v1/account-handovers": ("handover:read", "handover:write"),
    "/api/v1/notifications": ("handover:read", "handover:write"),
    "/api/v1/scoring": ("scoring:read", "scoring:write"),
    "/api/v1/reports": ("reports:read", None),
    "/api/v1/spend": ("reports:read", "spend:write"),
    "/api/v1/channel-rules": ("reports:read", "reports:write"),
    "/api/v1/exchange-rates": ("reports:read", "reports:write"),
    "/api/v1/predictive": ("predictive:read", "predictive:write"),
    "/api/v1/privacy": ("privacy:read", "privacy:write"),
    "/api/v1/webhooks": ("webhooks:read", "webhooks:write"),
}


def _needed_scope(method, path):
    if path == "/api/v1/leads/1/account/":  # a lead's account: the accounts area's route
        return "accounts:read" if method == "GET" else "accounts:write"
    for prefix, (read, write) in SCOPE_AREAS.items():
        if path.startswith(prefix):
            return read if method == "GET" else write
    return None


@pytest.mark.django_db
def test_schema_needs_the_schema_scope(make_api_key):
    secret, _ = make_api_key("schema:read")
    response = bearer(secret).get("/api/schema/?format=json")
    assert response.status_code == 200, response.content
    assert "/api/v1/handovers/" in response.json()["paths"]
    secret, _ = make_api_key(*[s for s in ALL_SCOPES if s != "schema:read"])
    refused = bearer(secret).get("/api/schema/?format=json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"


@pytest.mark.django_db
def test_an_integration_key_reads_reports_and_handovers_but_decides_nothing(make_api_key):
    """A key made without --user acts as its integration account: read scopes work, but deciding
    a handover or publishing a model is for people's roles even with the write scope."""
    secret, _ = make_api_key(*ALL_SCOPES)
    client = bearer(secret)
    assert client.get("/api/v1/reports/funnel/").status_code == 200
    assert client.get("/api/v1/handovers/").status_code == 200
    assert client.get("/api/v1/scoring/models/").status_code == 200
    decide = client.post("/api/v1/handovers/1/accept/", {}, format="json")
    assert decide.status_code == 403
    assert decide.json()["error"]["code"] == "permission_denied"
    assert client.get("/api/v1/webhooks/subscriptions/").status_code == 403


@pytest.mark.django_db
def test_a_handover_key_decides_as_its_user_with_the_same_object_checks(make_api_key):
    """A rep's key accepts the rep's own handover and nobody else's, as the rep would."""
    from handover.models import Handover
    from leadflow.roles import Role
    from leads.lifecycle import Stage
    from leads.services import lead_mark_mql
    from tests.leads.factories import UserFactory

    def make_mql(owner):
        lead = LeadFactory(stage=Stage.LEAD, owner=owner)
        lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
        return lead

    ann = UserFactory(username="ann", role=Role.SALES_REP)
    bob = UserFactory(username="bob", role=Role.SALES_REP)
    mine, theirs = make_mql(owner=ann), make_mql(owner=bob)
    Handover.objects.filter(lead=mine).update(owner=ann)
    Handover.objects.filter(lead=theirs).update(owner=bob)
    secret, _ = make_api_key("handover:read", "handover:write", user=ann)
    client = bearer(secret)
    own = Handover.objects.get(lead=mine)
    other = Handover.objects.get(lead=theirs)
    accepted = client.post(f"/api/v1/handovers/{own.pk}/accept/", {}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["status"] == "accepted"
    own.refresh_from_db()
    assert own.decided_by == ann
    refused = client.post(f"/api/v1/handovers/{other.pk}/accept/", {}, format="json")
    assert refused.status_code in (403, 404), refused.content
    other.refresh_from_db()
    assert other.status == Handover.Status.OPEN


@pytest.mark.django_db
def test_rate_limit_is_429_with_retry_after(make_api_key, settings):
    settings.LEADFLOW_API_KEY_RATE_WINDOW = 3600
    secret, key = make_api_key("leads:read", rate_limit=3, name=f"rl-{uuid.uuid4().hex[:8]}")
    client = bearer(secret)
    codes = [client.get("/api/v1/leads/").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    refused = client.get("/api/v1/leads/")
    assert refused.json()["error"]["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 3600
    # another key has its own counter
    other, _ = make_api_key("leads:read", rate_limit=3)
    assert bearer(other).get("/api/v1/leads/").status_code == 200


def test_rate_limit_counter_is_atomic_under_threads():
    """50 threads hit one bucket with a limit of 20: exactly 20 are allowed."""
    from concurrent.futures import ThreadPoolExecutor

    bucket = f"test:{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: ratelimit.hit(bucket, limit=20, window=3600), range(50)))
    assert sum(r is None for r in results) == 20
    assert all(r is None or r > 0 for r in results)


def test_rate_limit_backend_follows_the_profile(settings):
    expected = "redis" if settings.LEADFLOW_RATE_LIMIT_REDIS_URL else "django-cache"
    assert ratelimit.backend_name() == expected


@pytest.mark.django_db
def test_admin_creates_a_key_shows_it_once_and_revokes(client):
    from leadflow.models import User

    admin_user = User.objects.create_superuser("boss", "boss@example.test", "pw")
    client.force_login(admin_user)
    response = client.post(
        "/admin/leadflow/apikey/add/",
        {"name": "crm-sync", "scope_choices": ["leads:read", "leads:write"], "rate_limit": ""},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert shown, response.context["adminform"].form.errors
    secret = re.search(r"(lf_[0-9a-f]{8}_[\w-]+)", " ".join(shown)).group(1)
    key = ApiKey.objects.get(name="crm-sync")
    assert key.hashed_key == hash_key(secret)
    assert AuditEvent.objects.get(action="apikey.create").actor == admin_user
    assert bearer(secret).get("/api/v1/leads/").status_code == 200
    client.post(
        "/admin/leadflow/apikey/",
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )
    assert bearer(secret).get("/api/v1/leads/").status_code == 401
    assert AuditEvent.objects.get(action="apikey.revoke").actor == admin_user
    assert client.get(f"/admin/leadflow/apikey/{key.pk}/change/").status_code == 200


@pytest.mark.django_db
def test_a_prediction_for_a_non_numeric_lead_id_is_404_not_500(make_api_key):
    secret, _ = make_api_key("predictive:read")
    response = bearer(secret).get("/api/v1/predictive/leads/null,null/")
    assert response.status_code == 404  # the router matches digits only (leadflow/api/routers.py)
    assert response.json()["error"]["code"] == "not_found"

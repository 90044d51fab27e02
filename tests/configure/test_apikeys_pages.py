"""Settings › API keys: list, create (shown once), revoke; permissions, CSRF, field errors."""

import pytest
from django.test import Client
from django.urls import reverse

from leadflow.apikeys import api_key_lookup
from leadflow.models import ApiKey, AuditEvent
from leadflow.roles import Role
from tests.leads.factories import UserFactory

pytestmark = pytest.mark.django_db

NEW = "/settings/api-keys/new/"  # (a literal: collection must not need the URL to exist)


def test_the_admin_role_holds_the_permission_and_the_section_is_listed(admin_client, admin_user):
    assert admin_user.has_perm("leadflow.manage_api_keys")
    page = admin_client.get("/settings/").content.decode()
    assert reverse("configure:apikeys") in page
    assert reverse("configure:webhooks") in page


def test_create_shows_the_key_once_and_it_works(admin_client, admin_user):
    response = admin_client.post(
        NEW, {"name": "crm-sync", "kind": "secret", "scopes": ["leads:read", "events:write"]}
    )
    key = ApiKey.objects.get(name="crm-sync")
    assert response.status_code == 302
    assert response["Location"] == reverse("configure:apikeys_created", args=[key.pk])
    first = admin_client.get(response["Location"])
    assert "no-store" in first["Cache-Control"]
    html = first.content.decode()
    secret = html.split('id="api-key-secret" class="secret-value" type="text" value="')[1]
    secret = secret.split('"')[0]
    assert secret.startswith(f"lf_{key.prefix}_")
    assert api_key_lookup(secret).pk == key.pk  # the shown key is the real one
    assert key.user.username == "api:crm-sync"
    assert key.created_by == admin_user
    second = admin_client.get(response["Location"]).content.decode()
    assert secret not in second
    assert "cannot be shown again" in second
    assert secret not in admin_client.get(reverse("configure:apikeys")).content.decode()
    audit = AuditEvent.objects.get(action="apikey.create")
    assert audit.actor == admin_user
    assert audit.target_id == str(key.pk)


def test_a_public_key_shows_its_identity_secret_once(admin_client):
    response = admin_client.post(
        NEW, {"name": "site", "kind": "public", "scopes": ["events:write"]}
    )
    html = admin_client.get(response["Location"]).content.decode()
    assert 'id="api-key-identity-secret"' in html
    assert "lfid_" in html
    assert "lfid_" not in admin_client.get(response["Location"]).content.decode()


def test_acting_user_is_the_chosen_one(admin_client, rep):
    admin_client.post(
        NEW, {"name": "rita", "kind": "secret", "scopes": ["leads:read"], "user": rep.pk}
    )
    assert ApiKey.objects.get(name="rita").user == rep


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "secret", "scopes": ["leads:read"]}, "Name", "This field is required."),
        ({"name": "x", "kind": "secret"}, "Scopes", "Choose at least one scope."),
        ({"name": "x", "kind": "secret", "scopes": ["nope"]}, "Scopes", "not one of the available"),
        (
            {"name": "x", "kind": "public", "scopes": ["leads:read"]},
            "Scopes",
            "A public key may hold only events:write.",
        ),
        (
            {"name": "x", "kind": "magic", "scopes": ["leads:read"]},
            "Kind",
            "not one of the available",
        ),
        (
            {"name": "x", "kind": "secret", "scopes": ["leads:read"], "user": 999999},
            "Acts as",
            "not one of the available",
        ),
        (
            {"name": "   ", "kind": "secret", "scopes": ["leads:read"]},
            "Name",
            "This field is required.",
        ),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(admin_client, data, field, message):
    response = admin_client.post(NEW, data)
    assert response.status_code == 422
    html = response.content.decode()
    summary = html.split('class="form-errors"')[1].split("</ul>")[0]
    assert f"{field}: " in summary
    assert message in summary
    assert not ApiKey.objects.exists()
    assert not AuditEvent.objects.filter(action="apikey.create").exists()


def test_revoke_asks_first_then_revokes_and_audits(admin_client, admin_user, make_api_key):
    secret, key = make_api_key("leads:read")
    url = reverse("configure:apikeys_revoke", args=[key.pk])
    confirm = admin_client.get(url)
    assert confirm.status_code == 200
    assert "Revoke key" in confirm.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None  # a GET changes nothing
    response = admin_client.post(url)
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_lookup(secret) is None
    assert AuditEvent.objects.get(action="apikey.revoke").actor == admin_user
    listing = admin_client.get(reverse("configure:apikeys")).content.decode()
    assert "Revoked" in listing
    admin_client.post(url)  # twice: a no-op, one audit row
    assert AuditEvent.objects.filter(action="apikey.revoke").count() == 1


def test_active_keys_come_first(admin_client, make_api_key):
    _, old = make_api_key("leads:read", name="old")
    _, new = make_api_key("leads:read", name="new")
    admin_client.post(reverse("configure:apikeys_revoke", args=[new.pk]))
    _, newest = make_api_key("leads:read", name="newest")
    html = admin_client.get(reverse("configure:apikeys")).content.decode()
    rows = [html.index(f'id="apikey-{k.pk}"') for k in (newest, old, new)]
    assert rows == sorted(rows)


def test_list_shows_the_columns(admin_client, make_api_key):
    _, key = make_api_key("leads:read", "reports:read", name="bi")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at="2026-01-02T03:04:00Z")
    html = admin_client.get(reverse("configure:apikeys")).content.decode()
    row = html.split(f'id="apikey-{key.pk}"')[1].split("</tr>")[0]
    for text in (
        "bi",
        f"lf_{key.prefix}_",
        "Secret (server)",
        "leads:read",
        "reports:read",
        "api:bi",
        "2026-01-02 03:04",
        "Active",
    ):
        assert text in row


@pytest.mark.parametrize(
    "role", [Role.MARKETER, Role.SALES_REP, Role.SALES_MANAGER, Role.INTEGRATION]
)
def test_other_roles_get_403_everywhere(client, role, make_api_key):
    _, key = make_api_key("leads:read")
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    for url in (
        reverse("configure:apikeys"),
        NEW,
        reverse("configure:apikeys_created", args=[key.pk]),
        reverse("configure:apikeys_revoke", args=[key.pk]),
    ):
        assert client.get(url).status_code == 403, url
        assert (
            client.post(url, {"name": "x", "kind": "secret", "scopes": ["leads:read"]}).status_code
            == 403
        ), url
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiKey.objects.count() == 1


def test_anonymous_goes_to_login(client):
    response = client.get(reverse("configure:apikeys"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_bad_id_is_404(admin_client):
    assert admin_client.get(reverse("configure:apikeys_revoke", args=[424242])).status_code == 404
    assert admin_client.post(reverse("configure:apikeys_revoke", args=[424242])).status_code == 404
    assert admin_client.get(reverse("configure:apikeys_created", args=[424242])).status_code == 404


def test_csrf_is_required(admin_user, make_api_key):
    _, key = make_api_key("leads:read")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert (
        client.post(NEW, {"name": "x", "kind": "secret", "scopes": ["leads:read"]}).status_code
        == 403
    )
    assert client.post(reverse("configure:apikeys_revoke", args=[key.pk])).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiKey.objects.count() == 1

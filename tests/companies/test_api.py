"""/api/v1/accounts/ and /api/v1/leads/{id}/account/: shapes, refusals, members, merge, scopes
and who sees which members."""

import pytest
from rest_framework.test import APIClient

from companies.models import Account, AccountDomain, Membership
from companies.services import account_create, member_link
from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.models import Team
from tests.leads.factories import LeadFactory, UserFactory

URL = "/api/v1/accounts/"


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def bearer(secret):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def make_account(name="Acme", domains=("acme.example",), **data):
    return account_create(data={"name": name, "domains": list(domains), **data}, actor=None)


def current(lead):
    return Membership.objects.get(lead=lead, ended_at__isnull=True)


def fields_of(response):
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "invalid"
    return body["fields"]


# --- create and read -----------------------------------------------------------------------


@pytest.mark.django_db
def test_create_stores_the_domains_primary_first_links_domain_leads_and_audits(marketer, rep):
    ann = LeadFactory(email="ann@initech.example", domain="initech.example")
    response = client_for(marketer).post(
        URL,
        {
            "name": "Initech",
            "domains": ["Initech.EXAMPLE", "initech-eu.example"],
            "tier": "1",
            "country": "de",
            "size_band": "51-200",
            "owner": rep.pk,
            "traits": {"plan": "enterprise"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    account = Account.objects.get()
    assert body["id"] == account.pk
    assert body["domains"] == ["initech.example", "initech-eu.example"]
    assert (body["tier"], body["country"], body["owner"]) == ("1", "DE", rep.pk)
    assert body["member_count"] == 1
    assert (body["parent"], body["traits"]) == (None, {"plan": "enterprise"})
    assert current(ann).account_id == account.pk
    assert current(ann).source == Membership.Source.DOMAIN
    assert AuditEvent.objects.filter(action="account.created", target_id=str(account.pk)).exists()
    shown = client_for(rep).get(f"{URL}{account.pk}/").json()
    assert shown["domains"] == ["initech.example", "initech-eu.example"]
    assert set(shown) == {
        "id", "name", "domains", "external_id", "industry", "size_band", "country", "owner",
        "team", "tier", "parent", "traits", "member_count", "score", "grade", "created_at",
        "updated_at",
    }  # fmt: skip


@pytest.mark.django_db
def test_patch_changes_only_what_is_sent_and_replaces_the_domain_list(marketer):
    account = make_account(domains=("acme.example", "acme.de"), industry="Software")
    response = client_for(marketer).patch(
        f"{URL}{account.pk}/", {"domains": ["acme.de", "acme.fr"], "tier": "2"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["domains"] == ["acme.de", "acme.fr"]
    account.refresh_from_db()
    assert (account.tier, account.industry, account.name) == ("2", "Software", "Acme")
    assert AccountDomain.objects.get(domain="acme.de").is_primary
    assert not AccountDomain.objects.filter(domain="acme.example").exists()
    audit = AuditEvent.objects.get(action="account.updated", target_id=str(account.pk))
    assert audit.details["after"]["domains"] == ["acme.de", "acme.fr"]


REFUSALS = [
    ({"domains": ["https://www.acme.example/about"]}, "domains"),
    ({"domains": ["acme.example", "gmail.com"]}, "domains"),
    ({"domains": ["taken.example"]}, "domains"),
    ({"owner": 987654}, "owner"),
    ({"parent": 987654}, "parent"),
    ({"tier": "4"}, "tier"),
    ({"country": "Germany"}, "country"),
    ({"traits": ["not", "an", "object"]}, "traits"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("extra", "field"), REFUSALS)
def test_a_refused_create_is_a_400_naming_the_field_and_writes_nothing(marketer, extra, field):
    taken = make_account("Taken", domains=("taken.example",))
    response = client_for(marketer).post(URL, {"name": "New Co", **extra}, format="json")
    assert field in fields_of(response), response.json()
    assert list(Account.objects.values_list("pk", flat=True)) == [taken.pk]
    assert list(AccountDomain.objects.values_list("domain", flat=True)) == ["taken.example"]
    assert not AuditEvent.objects.filter(action="account.created", target_id__gt=str(taken.pk))


@pytest.mark.django_db
def test_the_owner_must_be_a_sales_rep_or_manager(marketer):
    response = client_for(marketer).post(URL, {"name": "X", "owner": marketer.pk}, format="json")
    assert "owner" in fields_of(response)
    assert not Account.objects.exists()


@pytest.mark.django_db
def test_a_parent_cycle_is_a_400_naming_parent_and_changes_nothing(marketer):
    a = make_account("A", domains=("a.example",))
    b = make_account("B", domains=("b.example",), parent=a.pk)
    response = client_for(marketer).patch(
        f"{URL}{a.pk}/", {"parent": b.pk, "name": "A renamed"}, format="json"
    )
    assert "parent" in fields_of(response)
    a.refresh_from_db()
    assert (a.parent_id, a.name) == (None, "A")
    self_parent = client_for(marketer).patch(f"{URL}{a.pk}/", {"parent": a.pk}, format="json")
    assert "parent" in fields_of(self_parent)


@pytest.mark.django_db
def test_a_patch_with_one_bad_domain_keeps_the_old_domains(marketer):
    account = make_account(domains=("acme.example",))
    response = client_for(marketer).patch(
        f"{URL}{account.pk}/", {"domains": ["acme.fr", "yahoo.com"], "tier": "1"}, format="json"
    )
    reasons = fields_of(response)
    assert list(reasons) == ["domains"]
    assert "yahoo.com" in reasons["domains"][0]
    account.refresh_from_db()
    assert account.tier == ""
    assert list(account.domains.values_list("domain", flat=True)) == ["acme.example"]


@pytest.mark.django_db
def test_a_duplicate_external_id_is_a_400_naming_it(marketer):
    make_account("One", domains=(), external_id="grp-1")
    response = client_for(marketer).post(
        URL, {"name": "Two", "external_id": "grp-1"}, format="json"
    )
    assert "external_id" in fields_of(response)
    assert Account.objects.count() == 1


# --- list ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_takes_the_account_filters(rep):
    make_account("Acme", domains=("acme.example",), tier="1", owner=rep.pk)
    make_account("Globex", domains=("globex.example",), tier="2", industry="Energy")
    make_account("Initech", domains=("initech.example",))
    client = client_for(rep)

    def names(query):
        response = client.get(URL, query)
        assert response.status_code == 200, response.content
        return sorted(a["name"] for a in response.json()["results"])

    assert names({}) == ["Acme", "Globex", "Initech"]
    assert names({"tier": ["1", "2"]}) == ["Acme", "Globex"]
    assert names({"owner": rep.pk}) == ["Acme"]
    assert names({"unowned": "true"}) == ["Globex", "Initech"]
    assert names({"domain": "GLOBEX.example"}) == ["Globex"]
    assert names({"q": "init"}) == ["Initech"]
    assert names({"industry": "energy"}) == ["Globex"]
    page = client.get(URL, {"page_size": 2}).json()
    assert len(page["results"]) == 2
    assert page["next"]
    assert "tier" in fields_of(client.get(URL, {"tier": "9"}))
    assert "owner" in fields_of(client.get(URL, {"owner": "x"}))


# --- members ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_link_set_role_and_unlink_a_member(marketer, rep):
    account = make_account(domains=("acme.example",))
    lead = LeadFactory(email="bo@elsewhere.example", domain="elsewhere.example", owner=rep)
    client = client_for(marketer)
    linked = client.post(f"{URL}{account.pk}/members/", {"lead": lead.pk}, format="json")
    assert linked.status_code == 201, linked.content
    assert linked.json()["lead"] == lead.pk
    assert linked.json()["source"] == "explicit"
    assert current(lead).actor == marketer
    again = client.post(f"{URL}{account.pk}/members/", {"lead": lead.pk}, format="json")
    assert again.status_code == 200
    assert Membership.objects.filter(lead=lead).count() == 1

    members = client_for(rep).get(f"{URL}{account.pk}/members/").json()
    assert [(m["lead"], m["email"], m["stage"]) for m in members] == [
        (lead.pk, "bo@elsewhere.example", "suspect")
    ]
    role = client_for(rep).patch(
        f"{URL}{account.pk}/members/{lead.pk}/", {"role": "champion"}, format="json"
    )
    assert role.status_code == 200, role.content
    assert (role.json()["role"], role.json()["role_source"]) == ("champion", "person")
    assert "role" in fields_of(
        client.patch(f"{URL}{account.pk}/members/{lead.pk}/", {"role": "boss"}, format="json")
    )

    gone = client.delete(f"{URL}{account.pk}/members/{lead.pk}/")
    assert gone.status_code == 204, gone.content
    assert current(lead).account_id is None
    assert current(lead).source == "explicit"
    assert client.get(f"{URL}{account.pk}/members/").json() == []
    assert client.delete(f"{URL}{account.pk}/members/{lead.pk}/").status_code == 404

    log = client_for(rep).get(f"/api/v1/leads/{lead.pk}/account/").json()
    assert log["current"]["account"] is None
    assert [(h["account"], h["ended_at"] is None) for h in log["history"]] == [
        (None, True),
        (account.pk, False),
    ]
    assert log["history"][1]["account_name"] == "Acme"


@pytest.mark.django_db
def test_an_explicit_link_moves_a_lead_from_its_domain_account_and_keeps_the_history(marketer):
    home = make_account("Home", domains=("home.example",))
    new = make_account("New", domains=("new.example",))
    lead = LeadFactory(email="cy@home.example", domain="home.example")
    member_link(lead_id=lead.pk, account_id=home.pk, source="domain")
    response = client_for(marketer).post(
        f"{URL}{new.pk}/members/", {"lead": lead.pk, "reason": "moved jobs"}, format="json"
    )
    assert response.status_code == 201, response.content
    log = client_for(marketer).get(f"/api/v1/leads/{lead.pk}/account/").json()
    assert log["current"]["account"] == new.pk
    assert log["current"]["reason"] == "moved jobs"
    assert [h["account"] for h in log["history"]] == [new.pk, home.pk]
    assert client_for(marketer).get(f"{URL}{home.pk}/").json()["member_count"] == 0


@pytest.mark.django_db
def test_linking_an_unknown_lead_is_a_404_naming_lead(marketer):
    account = make_account()
    response = client_for(marketer).post(
        f"{URL}{account.pk}/members/", {"lead": 987654}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "lead"
    assert "lead" in fields_of(
        client_for(marketer).post(f"{URL}{account.pk}/members/", {"lead": "x"}, format="json")
    )


# --- visibility and permissions --------------------------------------------------------------


@pytest.fixture
def shared_account(rep):
    """An account with one of the rep's leads, one of a team mate's and one of a stranger's."""
    mate = UserFactory(username="mate", role=Role.SALES_REP)
    team = Team.objects.create(name="EMEA")
    team.members.add(rep, mate)
    account = make_account("Shared", domains=("shared.example",))
    leads = {
        "mine": LeadFactory(email="m@shared.example", domain="shared.example", owner=rep),
        "team": LeadFactory(email="t@shared.example", domain="shared.example", team=team),
        "other": LeadFactory(email="o@shared.example", domain="shared.example"),
    }
    for lead in leads.values():
        member_link(lead_id=lead.pk, account_id=account.pk, source="explicit")
    return account, leads


@pytest.mark.django_db
def test_a_rep_sees_only_the_members_they_may_see(rep, manager, shared_account):
    account, leads = shared_account
    seen = {m["lead"] for m in client_for(rep).get(f"{URL}{account.pk}/members/").json()}
    assert seen == {leads["mine"].pk, leads["team"].pk}
    assert client_for(rep).get(f"{URL}{account.pk}/").json()["member_count"] == 3
    everyone = {m["lead"] for m in client_for(manager).get(f"{URL}{account.pk}/members/").json()}
    assert everyone == {lead.pk for lead in leads.values()}
    assert client_for(rep).get(f"/api/v1/leads/{leads['other'].pk}/account/").status_code == 404
    assert client_for(rep).get(f"/api/v1/leads/{leads['mine'].pk}/account/").status_code == 200


@pytest.mark.django_db
def test_a_rep_cannot_touch_a_lead_they_may_not_see(rep, shared_account):
    account, leads = shared_account
    elsewhere = make_account("Elsewhere", domains=("elsewhere.example",))
    other = leads["other"]
    client = client_for(rep)
    link = client.post(f"{URL}{elsewhere.pk}/members/", {"lead": other.pk}, format="json")
    assert link.status_code == 404, link.content
    role = client.patch(f"{URL}{account.pk}/members/{other.pk}/", {"role": "user"}, format="json")
    assert role.status_code == 404
    assert client.delete(f"{URL}{account.pk}/members/{other.pk}/").status_code == 404
    assert current(other).account_id == account.pk
    assert current(other).role != "user"
    mine = client.post(f"{URL}{elsewhere.pk}/members/", {"lead": leads["mine"].pk}, format="json")
    assert mine.status_code == 201, mine.content


@pytest.mark.django_db
def test_reps_read_accounts_but_may_not_create_change_or_merge_them(rep):
    account = make_account()
    other = make_account("Other", domains=("other.example",))
    client = client_for(rep)
    assert client.get(URL).status_code == 200
    assert client.post(URL, {"name": "Mine"}, format="json").status_code == 403
    assert client.patch(f"{URL}{account.pk}/", {"name": "X"}, format="json").status_code == 403
    merge = client.post(
        f"{URL}{account.pk}/merge/",
        {"duplicate": other.pk, "keep_owner_of": account.pk},
        format="json",
    )
    assert merge.status_code == 403
    assert Account.objects.count() == 2
    assert client.delete(f"{URL}{account.pk}/").status_code in (403, 405)


@pytest.mark.django_db
def test_unknown_and_huge_ids_are_404s(marketer):
    client = client_for(marketer)
    account = make_account()
    huge = 2**70
    calls = [
        ("get", f"{URL}987654/"),
        ("get", f"{URL}{huge}/"),
        ("get", f"{URL}{huge}/members/"),
        ("delete", f"{URL}{account.pk}/members/{huge}/"),
        ("get", f"/api/v1/leads/{huge}/account/"),
        ("get", "/api/v1/leads/987654/account/"),
    ]
    for method, path in calls:
        response = getattr(client, method)(path)
        assert response.status_code == 404, (path, response.content)
    assert "lead" in fields_of(
        client.post(f"{URL}{account.pk}/members/", {"lead": huge}, format="json")
    )


# --- merge -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_merge_moves_members_domains_and_keeps_the_chosen_owner(marketer, rep, manager):
    survivor = make_account("Acme", domains=("acme.example",), owner=rep.pk)
    duplicate = make_account("ACME Inc", domains=("acme.de",), owner=manager.pk, tier="1")
    ann = LeadFactory(email="ann@acme.de", domain="acme.de")
    bob = LeadFactory(email="bob@acme.example", domain="acme.example")
    member_link(lead_id=ann.pk, account_id=duplicate.pk, source="domain")
    member_link(lead_id=bob.pk, account_id=survivor.pk, source="domain")
    response = client_for(marketer).post(
        f"{URL}{survivor.pk}/merge/",
        {"duplicate": duplicate.pk, "keep_owner_of": duplicate.pk},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == survivor.pk
    assert body["domains"] == ["acme.example", "acme.de"]
    assert (body["owner"], body["tier"], body["member_count"]) == (manager.pk, "1", 2)
    assert not Account.objects.filter(pk=duplicate.pk).exists()
    assert current(ann).account_id == survivor.pk
    assert AuditEvent.objects.filter(action="account.merged", target_id=str(survivor.pk)).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"duplicate": "self", "keep_owner_of": "self"}, "duplicate"),
        ({"duplicate": "other", "keep_owner_of": 987654}, "keep_owner_of"),
        ({"duplicate": 987654, "keep_owner_of": "self"}, "duplicate"),
        ({"keep_owner_of": "self"}, "duplicate"),
    ],
)
def test_a_refused_merge_is_a_400_naming_the_field_and_merges_nothing(marketer, body, field):
    account = make_account()
    other = make_account("Other", domains=("other.example",))
    ids = {"self": account.pk, "other": other.pk}
    sent = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    response = client_for(marketer).post(f"{URL}{account.pk}/merge/", sent, format="json")
    assert field in fields_of(response), response.json()
    assert Account.objects.count() == 2
    assert not AuditEvent.objects.filter(action="account.merged").exists()


# --- API keys --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_key_needs_accounts_write_to_create_and_accounts_read_to_list(make_api_key):
    make_account()
    reader, _ = make_api_key("accounts:read", "leads:write")
    assert bearer(reader).get(URL).status_code == 200
    refused = bearer(reader).post(URL, {"name": "Nope"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    assert "accounts:write" in refused.json()["error"]["message"]
    assert Account.objects.count() == 1
    writer, _ = make_api_key("accounts:write")
    created = bearer(writer).post(URL, {"name": "Yes", "domains": ["yes.example"]}, format="json")
    assert created.status_code == 201, created.content
    assert bearer(writer).get(URL).status_code == 403
    leads_only, _ = make_api_key("leads:read")
    lead = LeadFactory()
    assert bearer(leads_only).get(f"/api/v1/leads/{lead.pk}/account/").status_code == 403


@pytest.mark.django_db
def test_a_create_retried_with_its_idempotency_key_makes_one_account(marketer):
    client = client_for(marketer)
    first = client.post(URL, {"name": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(URL, {"name": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Account.objects.count() == 1

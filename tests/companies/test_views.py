"""The account pages (/companies/…) and the lead page's "Account" panel, per role, through the
Django test client: what each role sees and may do, refusals on the field with nothing saved."""

import re

import pytest
from django.urls import reverse

from companies import services
from companies.models import Account, AccountDomain, BuyingRole, Membership
from leadflow.roles import Role
from leads.models import Team
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(db):
    return UserFactory(username="owner-rep", role=Role.SALES_REP)


def make_account(name="Acme", domains=("acme.example",), **data):
    return services.account_create(
        data={"name": name, "domains": list(domains), **data}, actor=None
    )


def as_user(client, user):
    client.force_login(user)
    return client


def form_data(**overrides):
    data = {
        "name": "Globex",
        "domains": "globex.example\nglobex.example.org",
        "tier": "1",
        "owner": "",
        "team": "",
        "industry": "Manufacturing",
        "size_band": "",
        "country": "de",
        "parent": "",
    }
    data.update(overrides)
    return data


def field_errors(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", e)
        for e in re.findall(r'class="error field-error"[^>]*>(.*?)</p>', html, re.S)
    ]


# --- who sees what --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["marketer", "rep", "manager"])
def test_every_role_with_view_account_sees_the_list_the_page_and_the_nav_item(
    client, request, role
):
    user = request.getfixturevalue(role)
    LeadFactory(email="ann@acme.example", first_name="Ann", last_name="Lee", owner=user)
    account = make_account()  # leads of its domain join it
    client = as_user(client, user)
    home = client.get("/leads/list/").content.decode()
    assert f'href="{reverse("companies:list")}"' in home  # the nav item
    listing = client.get("/companies/")
    assert listing.status_code == 200
    assert "Acme" in listing.content.decode()
    assert "acme.example" in listing.content.decode()
    row = re.search(rf'id="account-{account.pk}">(.*?)</tr>', listing.content.decode(), re.S)
    assert row is not None
    # its member count, then its score and grade (none: not scored yet)
    assert re.search(
        r'<td class="num">1</td>\s*<td class="num"><span[^>]*>—</span></td>\s*<td>—</td>\s*$',
        row.group(1),
    )
    page = client.get(f"/companies/{account.pk}/")
    assert page.status_code == 200
    assert "Ann Lee" in page.content.decode()
    assert "Buying group" in page.content.decode()


def test_a_user_without_view_account_has_no_nav_item_and_gets_403(client, db):
    from django.contrib.auth.models import Group

    user = UserFactory(username="nobody")
    user.groups.set(Group.objects.none())
    client = as_user(client, user)
    assert client.get("/companies/").status_code == 403
    assert reverse("companies:list") not in client.get("/accounts/profile/").content.decode()


def test_anonymous_visitors_go_to_the_login_page(client, db):
    response = client.get("/companies/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_rep_may_view_but_not_create_edit_or_merge(client, rep):
    one, two = make_account(), make_account("Acme Inc", ["acme-inc.example"])
    client = as_user(client, rep)
    page = client.get(f"/companies/{one.pk}/").content.decode()
    assert reverse("companies:new") not in client.get("/companies/").content.decode()
    assert reverse("companies:merge", args=[one.pk]) not in page
    assert client.get("/companies/new/").status_code == 403
    assert client.post("/companies/new/", form_data()).status_code == 403
    assert client.get(f"/companies/{one.pk}/edit/").status_code == 403
    assert client.get(f"/companies/{one.pk}/merge/").status_code == 403
    merge = {"duplicate": two.pk, "keep_owner_of": one.pk}
    assert client.post(f"/companies/{one.pk}/merge/", merge).status_code == 403
    assert Account.objects.count() == 2


def test_the_list_filters_by_search_tier_owner_and_unowned(client, marketer, owner):
    make_account("Initech", ["initech.example"], tier="1", owner=owner.pk)
    make_account("Umbrella", ["umbrella.example"], tier="2")
    client = as_user(client, marketer)

    def names(query):
        html = client.get("/companies/", query).content.decode()
        return set(re.findall(r'href="/companies/\d+/">([^<]+)</a>', html))

    assert names({}) == {"Initech", "Umbrella"}
    assert names({"q": "umbr"}) == {"Umbrella"}
    assert names({"q": "initech.ex"}) == {"Initech"}
    assert names({"tier": "1"}) == {"Initech"}
    assert names({"owner": owner.pk}) == {"Initech"}
    assert names({"unowned": "true"}) == {"Umbrella"}
    bad = client.get("/companies/", {"owner": "x"})
    assert bad.status_code == 400  # explained, not a crash


def test_the_list_pages(client, marketer):
    for i in range(27):
        make_account(f"Firm {i:02d}", [f"firm{i}.example"])
    client = as_user(client, marketer)
    first = client.get("/companies/").content.decode()
    assert "Page 1 of 2" in first
    assert "Firm 24" in first
    assert "Firm 25" not in first
    second = client.get("/companies/", {"page": 2}).content.decode()
    assert "Firm 25" in second
    assert "Firm 26" in second


# --- create and edit ------------------------------------------------------------------------


def test_a_marketer_creates_an_account_and_its_domain_members_join(client, marketer):
    lead = LeadFactory(email="kim@globex.example")
    client = as_user(client, marketer)
    response = client.post("/companies/new/", form_data())
    account = Account.objects.get(name="Globex")
    assert response.status_code == 302
    assert response["Location"] == f"/companies/{account.pk}/"
    assert list(account.domains.values_list("domain", "is_primary")) == [
        ("globex.example", True),
        ("globex.example.org", False),
    ]
    assert account.country == "DE"
    assert account.tier == "1"
    member = Membership.objects.get(lead=lead, ended_at__isnull=True)
    assert member.account == account
    assert member.source == Membership.Source.DOMAIN
    page = client.get(response["Location"]).content.decode()
    assert "with 1 member." in page  # the flash
    assert "1 member</h2>" in page
    assert lead.display_name in page


def test_a_free_mail_domain_is_refused_on_the_domains_field_and_nothing_is_saved(client, marketer):
    client = as_user(client, marketer)
    response = client.post("/companies/new/", form_data(domains="globex.example\ngmail.com"))
    assert response.status_code == 422
    errors = field_errors(response.content.decode())
    assert len(errors) == 1
    assert errors[0].startswith("Domains:")
    assert "gmail.com" in errors[0]
    assert "free-mail" in errors[0]
    assert not Account.objects.exists()
    assert not AccountDomain.objects.exists()
    assert "globex.example" in response.content.decode()  # what was typed stays


def test_a_domain_of_another_account_is_refused(client, marketer):
    make_account("Acme", ["acme.example"])
    client = as_user(client, marketer)
    response = client.post("/companies/new/", form_data(domains="acme.example"))
    assert response.status_code == 422
    assert any("belongs to the account Acme" in e for e in field_errors(response.content.decode()))
    assert Account.objects.count() == 1


def test_an_owner_must_be_a_sales_rep_or_manager(client, marketer, owner):
    client = as_user(client, marketer)
    response = client.post("/companies/new/", form_data(owner=marketer.pk))
    assert response.status_code == 422
    assert any(e.startswith("Owner:") for e in field_errors(response.content.decode()))
    response = client.post("/companies/new/", form_data(owner=owner.pk))
    assert response.status_code == 302
    assert Account.objects.get().owner == owner


def test_a_parent_cycle_is_refused_on_the_parent_field(client, marketer):
    group = make_account("Group", ["group.example"])
    child = make_account("Child", ["child.example"], parent=group.pk)
    client = as_user(client, marketer)
    data = form_data(name="Group", domains="group.example", parent=str(child.pk))
    response = client.post(f"/companies/{group.pk}/edit/", data)
    assert response.status_code == 422
    errors = field_errors(response.content.decode())
    assert len(errors) == 1
    assert errors[0].startswith("Parent account:")
    assert "own parent" in errors[0]
    group.refresh_from_db()
    assert group.parent is None
    assert group.tier == ""


def test_a_parent_is_named_by_its_name_and_an_unknown_name_is_refused(client, marketer):
    group = make_account("Group", ["group.example"])
    client = as_user(client, marketer)
    response = client.post("/companies/new/", form_data(parent="group"))
    assert response.status_code == 302
    assert Account.objects.get(name="Globex").parent == group
    response = client.post("/companies/new/", form_data(name="Other", domains="", parent="Nope"))
    assert response.status_code == 422
    assert any("No account is named" in e for e in field_errors(response.content.decode()))
    page = client.get(f"/companies/{group.pk}/").content.decode()
    assert "Globex" in page  # a subsidiary on the parent's page


def test_an_edit_shows_the_current_values_and_saves(client, marketer):
    account = make_account("Acme", ["acme.example", "acme.example.net"], industry="Retail")
    client = as_user(client, marketer)
    html = client.get(f"/companies/{account.pk}/edit/").content.decode()
    assert "acme.example\nacme.example.net" in html
    assert 'value="Retail"' in html
    data = form_data(name="Acme Corp", domains="acme.example.net\nacme.example", industry="")
    assert client.post(f"/companies/{account.pk}/edit/", data).status_code == 302
    account.refresh_from_db()
    assert account.name == "Acme Corp"
    assert account.industry == ""
    assert account.domains.get(is_primary=True).domain == "acme.example.net"


# --- buying roles ---------------------------------------------------------------------------


def test_a_rep_sets_a_members_buying_role_and_coverage_counts_it(client, rep):
    lead = LeadFactory(email="bo@acme.example", owner=rep, job_title="")
    account = make_account()
    client = as_user(client, rep)
    url = reverse("companies:member_role", args=[account.pk, lead.pk])
    response = client.post(url, {"role": BuyingRole.CHAMPION}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="member-{lead.pk}"' in response.content.decode()
    member = Membership.objects.get(lead=lead, ended_at__isnull=True)
    assert member.role == BuyingRole.CHAMPION
    assert member.role_source == "person"
    page = client.get(f"/companies/{account.pk}/").content.decode()
    row = re.search(r'id="coverage-champion">(.*?)</tr>', page, re.S)
    assert row is not None
    assert '<td class="num">1</td>' in row.group(1)
    # without htmx: back to the account page, with a message
    response = client.post(url, {"role": BuyingRole.BLOCKER})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == BuyingRole.BLOCKER


def test_an_unknown_role_is_refused_and_nothing_changes(client, rep):
    lead = LeadFactory(email="bo@acme.example", owner=rep, job_title="")
    account = make_account()
    client = as_user(client, rep)
    url = reverse("companies:member_role", args=[account.pk, lead.pk])
    response = client.post(url, {"role": "boss"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert 'role="alert"' in response.content.decode()
    assert Membership.objects.get(lead=lead).role_source == "rule"


def test_a_role_of_a_lead_outside_the_account_is_404(client, marketer):
    account = make_account()
    stranger = LeadFactory(email="x@elsewhere.example")
    client = as_user(client, marketer)
    url = reverse("companies:member_role", args=[account.pk, stranger.pk])
    assert client.post(url, {"role": "champion"}).status_code == 404


def test_a_user_without_set_buying_role_sees_the_role_as_text_and_gets_403(client, db):
    integration = UserFactory(username="integ", role=Role.INTEGRATION)
    lead = LeadFactory(email="bo@acme.example")
    account = make_account()
    client = as_user(client, integration)
    if not integration.has_perm("leads.view_lead"):
        pytest.skip("the integration role cannot see leads here")
    page = client.get(f"/companies/{account.pk}/").content.decode()
    assert 'name="role"' not in page
    url = reverse("companies:member_role", args=[account.pk, lead.pk])
    assert client.post(url, {"role": "champion"}).status_code == 403


# --- merge ----------------------------------------------------------------------------------


def test_a_marketer_merges_a_duplicate_keeping_the_duplicates_owner(client, marketer, owner):
    lead = LeadFactory(email="eve@acme-inc.example")
    survivor = make_account("Acme", ["acme.example"])
    duplicate = make_account("ACME Inc", ["acme-inc.example"], owner=owner.pk)
    client = as_user(client, marketer)
    search = client.get(f"/companies/{survivor.pk}/merge/", {"q": "acme"}).content.decode()
    assert f"?duplicate={duplicate.pk}" in search
    confirm = client.get(f"/companies/{survivor.pk}/merge/", {"duplicate": duplicate.pk})
    assert confirm.status_code == 200
    assert "acme-inc.example" in confirm.content.decode()
    data = {"duplicate": duplicate.pk, "keep_owner_of": duplicate.pk}
    response = client.post(f"/companies/{survivor.pk}/merge/", data, follow=True)
    assert response.redirect_chain[-1][0] == f"/companies/{survivor.pk}/"
    html = response.content.decode()
    assert "Merged “ACME Inc” into “Acme”: 1 member moved" in html
    assert not Account.objects.filter(pk=duplicate.pk).exists()
    survivor.refresh_from_db()
    assert survivor.owner == owner
    assert Membership.objects.get(lead=lead, ended_at__isnull=True).account == survivor


def test_a_merge_into_itself_is_refused(client, marketer):
    account = make_account()
    client = as_user(client, marketer)
    data = {"duplicate": account.pk, "keep_owner_of": account.pk}
    response = client.post(f"/companies/{account.pk}/merge/", data)
    assert response.status_code == 422
    assert "cannot be merged into itself" in response.content.decode()
    assert Account.objects.filter(pk=account.pk).exists()


# --- the lead page's panel ------------------------------------------------------------------


def test_the_lead_page_shows_the_account_and_how_it_was_linked(client, rep):
    lead = LeadFactory(email="ann@acme.example", owner=rep)
    account = make_account()
    client = as_user(client, rep)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    panel = html[html.index('id="account-panel"') :]
    assert f'href="/companies/{account.pk}/"' in panel
    assert "E-mail domain" in panel
    assert "Account history" in panel


def test_the_panel_suggests_a_name_match_and_links_it_explicitly(client, rep):
    account = make_account("Initech", ["initech.example"])
    lead = LeadFactory(email="peter@gmail.com", company="initech", owner=rep)
    client = as_user(client, rep)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Accounts named like the lead" in html
    assert "Initech" in html
    assert not Membership.objects.filter(lead=lead).exists()  # only suggested
    url = reverse("companies:lead_account", args=[lead.pk])
    response = client.post(url, {"action": "link", "account": account.pk}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "now belongs to Initech" in response.content.decode()
    current = Membership.objects.get(lead=lead, ended_at__isnull=True)
    assert current.account == account
    assert current.source == "explicit"
    assert current.actor == rep


def test_no_account_unlinks_and_keeps_the_domain_from_linking_again(client, rep):
    lead = LeadFactory(email="ann@acme.example", owner=rep)
    account = make_account()
    client = as_user(client, rep)
    url = reverse("companies:lead_account", args=[lead.pk])
    response = client.post(url, {"action": "none"})
    assert response.status_code == 302
    assert response["Location"] == f"/leads/{lead.pk}/#account-panel"
    current = Membership.objects.get(lead=lead, ended_at__isnull=True)
    assert current.account is None
    assert current.source == "explicit"
    services.members_match_by_domain(domains=["acme.example"])
    assert Membership.objects.get(lead=lead, ended_at__isnull=True).account is None
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "No account" in html
    assert Membership.objects.filter(lead=lead).count() == 2  # the log keeps the domain link
    # and back again, found by search
    found = client.get(url, {"account_q": "acme"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Acme" in found
    client.post(url, {"action": "link", "account": account.pk})
    assert Membership.objects.get(lead=lead, ended_at__isnull=True).account == account


def test_the_panel_refuses_an_unknown_account_and_writes_nothing(client, rep):
    lead = LeadFactory(email="ann@acme.example", owner=rep)
    client = as_user(client, rep)
    url = reverse("companies:lead_account", args=[lead.pk])
    response = client.post(url, {"action": "link", "account": 99999}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "No account has the id 99999" in response.content.decode()
    response = client.post(url, {"action": "link"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert not Membership.objects.filter(lead=lead).exists()


def test_a_rep_cannot_relink_a_lead_they_cannot_see(client, rep, manager):
    make_account()
    other = UserFactory(username="rep2", role=Role.SALES_REP)
    lead = LeadFactory(email="ann@acme.example", owner=other, team=Team.objects.create(name="T2"))
    client = as_user(client, rep)
    url = reverse("companies:lead_account", args=[lead.pk])
    if client.get(f"/leads/{lead.pk}/").status_code == 200:
        pytest.skip("reps see every lead in this install")
    assert client.post(url, {"action": "none"}).status_code == 404


def test_the_panel_has_no_change_control_without_change_lead(client, db):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(username="viewer")
    for codename in ("view_lead", "view_all_leads", "view_account"):
        viewer.user_permissions.add(Permission.objects.get(codename=codename))
    make_account()
    lead = LeadFactory(email="ann@acme.example")
    client = as_user(client, viewer)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert 'id="account-panel"' in html
    assert "Change account" not in html
    url = reverse("companies:lead_account", args=[lead.pk])
    assert client.post(url, {"action": "none"}).status_code == 403


def test_posts_need_csrf(marketer):
    from django.test import Client

    lead = LeadFactory(email="ann@acme.example")
    account = make_account()
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(marketer)
    assert csrf_client.post("/companies/new/", form_data()).status_code == 403
    url = reverse("companies:member_role", args=[account.pk, lead.pk])
    assert csrf_client.post(url, {"role": "champion"}).status_code == 403
    assert not Account.objects.filter(name="Globex").exists()
    assert Membership.objects.get(lead=lead).role_source == "rule"


def test_a_lead_is_added_by_its_e_mail_address_and_an_unknown_one_is_refused(client, marketer):
    account = make_account()
    lead = LeadFactory(email="Pat@Other.example")
    client = as_user(client, marketer)
    url = reverse("companies:member_add", args=[account.pk])
    response = client.post(url, {"email": "nobody@other.example"})
    assert response.status_code == 422
    assert "No lead you may change has the e-mail nobody@other.example" in response.content.decode()
    assert not Membership.objects.exists()
    response = client.post(url, {"email": "pat@other.example"})
    assert response.status_code == 302
    current = Membership.objects.get(lead=lead, ended_at__isnull=True)
    assert current.account == account
    assert current.source == "explicit"


def test_a_role_without_change_lead_cannot_add_members(client, db):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(username="viewer")
    for codename in ("view_lead", "view_all_leads", "view_account"):
        viewer.user_permissions.add(Permission.objects.get(codename=codename))
    account = make_account()
    LeadFactory(email="pat@other.example")
    client = as_user(client, viewer)
    assert "Add a lead by e-mail" not in client.get(f"/companies/{account.pk}/").content.decode()
    url = reverse("companies:member_add", args=[account.pk])
    assert client.post(url, {"email": "pat@other.example"}).status_code == 403
    assert not Membership.objects.exists()


def test_a_board_card_names_the_leads_account_with_a_link(client, marketer):
    from leads.lifecycle import Stage

    linked = LeadFactory(stage=Stage.MQL, email="a@acme.example", company="ACME GmbH (old)")
    other = LeadFactory(stage=Stage.MQL, email="b@nowhere.example", company="Nowhere Ltd")
    account = make_account("Acme Group")  # links the lead by its domain
    page = as_user(client, marketer).get("/leads/board/").content.decode()
    card = re.search(rf'id="lead-{linked.pk}".*?</li>', page, re.S).group(0)
    assert f'href="/companies/{account.pk}/"' in card
    assert "Acme Group" in card
    assert "ACME GmbH (old)" not in card  # the account, not the lead's own company text
    card = re.search(rf'id="lead-{other.pk}".*?</li>', page, re.S).group(0)
    assert "Nowhere Ltd" in card

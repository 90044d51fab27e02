"""Accounts' services: what is refused (field and reason, nothing written), matching precedence,
a lead changing company, Segment group calls, merge."""

import pytest
from django.core.exceptions import ValidationError

from companies.models import Account, AccountDomain, BuyingRole, Membership
from companies.services import (
    AccountError,
    account_create,
    account_merge,
    account_update,
    member_link,
    member_set_role,
    members_match_by_domain,
)
from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.ingest import Message, ingest
from leads.services import lead_create, lead_update
from leads.writepolicy import Caller
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

EXPLICIT, GROUP, DOMAIN = (Membership.Source.EXPLICIT, Membership.Source.GROUP,
                           Membership.Source.DOMAIN)  # fmt: skip


def _account(name="Acme", domains=("acme.example",), **data):
    return account_create(data={"name": name, "domains": list(domains), **data}, actor=None)


def _current(lead):
    return Membership.objects.filter(lead=lead, ended_at__isnull=True).first()


def _refused(field, call):
    before = (Account.objects.count(), AccountDomain.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as exc:
        call()
    assert field in exc.value.message_dict, exc.value.message_dict
    after = (Account.objects.count(), AccountDomain.objects.count(), AuditEvent.objects.count())
    assert after == before  # nothing half-written
    return " ".join(exc.value.message_dict[field])


@pytest.mark.parametrize(
    ("domains", "says"),
    [
        (["https://www.acme.example/about"], "not a domain name"),
        (["acme"], "not a domain name"),
        (["sales@acme.example"], "not a domain name"),
        (["Gmail.com"], "free-mail"),
        (["mailinator.com"], "free-mail"),
    ],
)
def test_a_bad_or_free_mail_domain_is_refused_by_name(domains, says):
    assert says in _refused("domains", lambda: _account(domains=domains))


def test_a_domain_belongs_to_one_account():
    _account()
    assert "belongs to the account Acme" in _refused(
        "domains", lambda: _account(name="Other", domains=["ACME.example"])
    )


def test_domains_are_stored_lower_case_first_primary_and_audited():
    account = _account(domains=["Acme.EXAMPLE", "acme-group.example", "acme.example"])
    assert list(account.domains.values_list("domain", "is_primary")) == [
        ("acme.example", True),
        ("acme-group.example", False),
    ]
    assert AuditEvent.objects.filter(action="account.created", target_id=str(account.pk)).exists()


def test_a_parent_circle_is_refused():
    top = _account("Holding", ["holding.example"])
    sub = _account("Sub", ["sub.example"], parent=top.pk)
    says = _refused("parent", lambda: account_update(account_id=top.pk, data={"parent": sub.pk},
                                                      actor=None))  # fmt: skip
    assert "own parent" in says
    _refused(
        "parent", lambda: account_update(account_id=top.pk, data={"parent": top.pk}, actor=None)
    )
    top.refresh_from_db()
    assert top.parent_id is None


def test_an_owner_must_be_in_sales():
    marketer = UserFactory(role=Role.MARKETER)
    assert "sales rep or manager" in _refused("owner", lambda: _account(owner=marketer.pk))


def test_an_update_records_before_and_after():
    account = _account()
    account_update(account_id=account.pk, data={"tier": "1", "domains": ["acme.example",
                   "acme.de"]}, actor=None)  # fmt: skip
    event = AuditEvent.objects.get(action="account.updated")
    assert event.details["before"] == {"tier": "", "domains": ["acme.example"]}
    assert event.details["after"] == {"tier": "1", "domains": ["acme.example", "acme.de"]}


# --- matching ----------------------------------------------------------------------------------


def test_a_new_lead_joins_the_account_of_its_email_domain_but_free_mail_never_does():
    account = _account()
    AccountDomain.objects.create(account=account, domain="gmail.com")  # even if someone forced it
    work = lead_create(data={"email": "ann@acme.example", "job_title": "CFO"})
    home = lead_create(data={"email": "ann.private@gmail.com"})
    member = _current(work)
    assert (member.account, member.source, member.role) == (
        account,
        DOMAIN,
        BuyingRole.DECISION_MAKER,
    )
    assert _current(home) is None


def test_an_account_made_later_picks_up_the_leads_of_its_domain():
    leads = [LeadFactory(email=f"p{i}@beta.example", domain="beta.example") for i in range(3)]
    account = _account("Beta", ["beta.example"])
    assert {m.lead_id for m in Membership.objects.filter(account=account)} == {x.pk for x in leads}
    assert members_match_by_domain() == 0  # idempotent: nobody is linked twice


def test_precedence_explicit_over_group_over_domain():
    acme, beta, gamma = (
        _account(),
        _account("Beta", ["beta.example"]),
        _account("Gamma", ["g.example"]),
    )
    lead = lead_create(data={"email": "eve@acme.example"})
    assert _current(lead).account == acme
    assert member_link(lead_id=lead.pk, account_id=beta.pk, source=GROUP)  # group beats domain
    assert not member_link(lead_id=lead.pk, account_id=acme.pk, source=DOMAIN)  # not back
    assert member_link(lead_id=lead.pk, account_id=gamma.pk, source=EXPLICIT)
    assert not member_link(lead_id=lead.pk, account_id=beta.pk, source=GROUP)  # a person decided
    assert _current(lead).account == gamma
    # a person's "no account" holds against automatic matching too
    assert member_link(lead_id=lead.pk, account_id=None, source=EXPLICIT)
    lead_update(lead_id=lead.pk, data={"email": "eve@beta.example"})
    assert _current(lead).account is None


def test_a_lead_changing_company_keeps_its_history():
    acme, beta = _account(), _account("Beta", ["beta.example"])
    lead = lead_create(data={"email": "max@acme.example"})
    lead_update(lead_id=lead.pk, data={"email": "max@beta.example"})
    assert _current(lead).account == acme  # a domain link is not replaced by another domain...
    member_link(lead_id=lead.pk, account_id=beta.pk, source=EXPLICIT, reason="moved to Beta")
    log = list(Membership.objects.filter(lead=lead).order_by("started_at", "pk"))
    assert [(m.account, m.ended_at is None) for m in log] == [(acme, False), (beta, True)]
    assert log[0].ended_at == log[1].started_at
    assert log[1].reason == "moved to Beta"


def test_linking_to_an_unknown_account_or_lead_is_refused():
    lead = LeadFactory()
    with pytest.raises(AccountError) as exc:
        member_link(lead_id=lead.pk, account_id=999999, source=EXPLICIT)
    assert exc.value.field == "account"
    assert not Membership.objects.exists()


def test_a_person_set_role_is_kept_and_bad_roles_refused():
    _account()
    lead = lead_create(data={"email": "a@acme.example", "job_title": "Engineer"})
    assert _current(lead).role == BuyingRole.USER
    member_set_role(lead_id=lead.pk, role=BuyingRole.CHAMPION, actor=None)
    assert (_current(lead).role, _current(lead).role_source) == ("champion", "person")
    with pytest.raises(ValidationError):
        member_set_role(lead_id=lead.pk, role="boss", actor=None)


# --- Segment group ----------------------------------------------------------------------------


def _group(user_id, group_id, traits, *, public=False, anonymous_id=None):
    message = Message(index=0, type="group", user_id=user_id, group_id=group_id, traits=traits,
                      anonymous_id=anonymous_id, message_id=f"g-{user_id}-{anonymous_id}-{group_id}")  # fmt: skip
    return ingest(messages=[message], caller=Caller(public=public))


def test_a_group_call_makes_the_account_and_links_the_lead():
    lead = lead_create(data={"email": "g@acme.example", "external_id": "u1"})
    _account("Acme by domain")
    _group("u1", "org-42", {"name": "Acme GmbH", "industry": "Software", "employees": 120,
                            "website": "https://www.acme-gmbh.example/"})  # fmt: skip
    account = Account.objects.get(external_id="org-42")
    assert (account.name, account.industry, account.size_band) == (
        "Acme GmbH",
        "Software",
        "51-200",
    )
    assert list(account.domains.values_list("domain", flat=True)) == ["acme-gmbh.example"]
    member = _current(lead)
    assert (member.account, member.source) == (account, GROUP)  # group beat the domain match


def test_a_browser_key_may_join_an_existing_account_but_never_create_one():
    existing = _account("Known", ["known.example"], external_id="org-known")
    # an anonymous visitor's lead, which a browser key may still change
    assert _group(None, "org-new", {"name": "Made up"}, public=True, anonymous_id="a1").grouped
    assert not Account.objects.filter(external_id="org-new").exists()
    assert not Membership.objects.exists()
    _group(None, "org-known", {"name": "Renamed"}, public=True, anonymous_id="a2")
    member = Membership.objects.get()
    assert (member.account, member.source) == (existing, GROUP)
    existing.refresh_from_db()
    assert existing.name == "Known"  # joined, not renamed


# --- merge ------------------------------------------------------------------------------------


def test_merge_moves_members_history_domains_and_subsidiaries_and_keeps_the_chosen_owner():
    rep1, rep2 = UserFactory(role=Role.SALES_REP), UserFactory(role=Role.SALES_REP)
    keep = _account("Acme", ["acme.example"], owner=rep1.pk, tier="1")
    dup = _account("ACME Inc", ["acme-inc.example"], owner=rep2.pk, industry="Software")
    child = _account("Acme Labs", ["labs.example"], parent=dup.pk)
    lead = lead_create(data={"email": "x@acme-inc.example"})
    survivor = account_merge(survivor_id=keep.pk, duplicate_id=dup.pk, keep_owner_of=dup.pk,
                             actor=None)  # fmt: skip
    assert not Account.objects.filter(pk=dup.pk).exists()
    assert (survivor.owner, survivor.tier, survivor.industry) == (rep2, "1", "Software")
    assert set(survivor.domains.values_list("domain", flat=True)) == {
        "acme.example",
        "acme-inc.example",
    }
    assert survivor.domains.get(is_primary=True).domain == "acme.example"
    assert _current(lead).account == survivor
    child.refresh_from_db()
    assert child.parent == survivor
    event = AuditEvent.objects.get(action="account.merged")
    assert event.details["duplicate"]["name"] == "ACME Inc"


def test_merging_an_account_into_itself_is_refused():
    account = _account()
    with pytest.raises(ValidationError) as exc:
        account_merge(survivor_id=account.pk, duplicate_id=account.pk, keep_owner_of=account.pk,
                      actor=None)  # fmt: skip
    assert "duplicate" in exc.value.message_dict
    assert Account.objects.filter(pk=account.pk).exists()


# --- backfill ---------------------------------------------------------------------------------


def test_the_backfill_makes_accounts_for_company_domains_and_links_their_leads():
    from django.core.management import call_command

    for i in range(3):
        LeadFactory(email=f"p{i}@delta.example", domain="delta.example", company="Delta AG")
    LeadFactory(email="odd@delta.example", domain="delta.example", company="delta")
    for i in range(3):
        LeadFactory(email=f"q{i}@gmail.com", domain="gmail.com", company="Delta AG")
    LeadFactory(email="solo@tiny.example", domain="tiny.example")
    LeadFactory(email="root@localhost", domain="localhost")
    explicit = LeadFactory(email="no@delta.example", domain="delta.example")
    member_link(lead_id=explicit.pk, account_id=None, source=EXPLICIT)
    call_command("accounts_backfill", create=2, batch=2)
    account = Account.objects.get()
    assert (account.name, account.domains.get().domain) == ("Delta AG", "delta.example")
    assert (account.industry, account.country) == ("Software", "DE")  # the leads' own
    assert Membership.objects.filter(account=account).count() == 4  # not the explicit "none"
    call_command("accounts_backfill", create=2)  # a rerun changes nothing
    assert Account.objects.count() == 1
    assert Membership.objects.count() == 5


def test_an_external_id_another_account_has_is_refused_by_name():
    _account("Acme", ["acme.example"], external_id="crm-1")
    assert "crm-1" in _refused(
        "external_id", lambda: _account("Beta", ["beta.example"], external_id="crm-1")
    )


def test_a_new_title_re_derives_the_role_but_never_a_persons_choice():
    _account()
    ann = lead_create(data={"email": "ann@acme.example"})
    bob = lead_create(data={"email": "bob@acme.example"})
    assert _current(ann).role == BuyingRole.UNKNOWN
    member_set_role(lead_id=bob.pk, role=BuyingRole.BLOCKER, actor=None)
    for lead in (ann, bob):
        lead_update(lead_id=lead.pk, data={"job_title": "Chief Financial Officer (CFO)"})
    assert _current(ann).role == BuyingRole.DECISION_MAKER
    assert _current(bob).role == BuyingRole.BLOCKER


def test_coverage_counts_members_not_their_activities():
    from datetime import timedelta

    from django.utils import timezone

    from companies.selectors import account_roster, buying_coverage
    from tests.leads.factories import ActivityFactory

    account = _account()
    boss = lead_create(data={"email": "boss@acme.example", "job_title": "CEO"})
    quiet = lead_create(data={"email": "quiet@acme.example", "job_title": "CFO"})
    for days in (1, 2, 3, 40):
        ActivityFactory(lead=boss, occurred_at=timezone.now() - timedelta(days=days))
    ActivityFactory(lead=quiet, occurred_at=timezone.now() - timedelta(days=45))  # too long ago
    coverage = {c.role: (c.members, c.engaged) for c in buying_coverage(account_roster(account))}
    assert coverage[BuyingRole.DECISION_MAKER] == (2, 1)
    assert coverage[BuyingRole.CHAMPION] == (0, 0)

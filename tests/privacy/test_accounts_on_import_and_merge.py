"""Accounts stay right through the bulk paths: imported leads join their domain's account, and
merging two leads keeps both leads' account history."""

import pytest

from companies.models import Membership
from companies.services import account_create, member_link
from leads.models import Lead
from privacy.merge import lead_merge
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _account(name, domain):
    return account_create(data={"name": name, "domains": [domain]}, actor=None)


def test_imported_leads_join_the_account_of_their_email_domain(run_import):
    acme = _account("Acme", "acme.example")
    job = run_import(
        b"email,first_name\nann@acme.example,Ann\nbob@gmail.com,Bob\ncy@acme.example,Cy\n"
    )
    assert job.created == 3
    members = Membership.objects.filter(account=acme, ended_at__isnull=True)
    assert sorted(m.lead.email for m in members) == ["ann@acme.example", "cy@acme.example"]


def test_a_lead_merge_keeps_both_account_histories_and_the_stronger_link():
    acme, beta = _account("Acme", "acme.example"), _account("Beta", "beta.example")
    survivor = LeadFactory(email="s@acme.example", domain="acme.example")
    duplicate = LeadFactory(email="d@beta.example", domain="beta.example")
    member_link(lead_id=survivor.pk, account_id=acme.pk, source=Membership.Source.DOMAIN)
    member_link(lead_id=duplicate.pk, account_id=beta.pk, source=Membership.Source.EXPLICIT)
    lead_merge(survivor_id=survivor.pk, duplicate_id=duplicate.pk, actor=None)
    rows = Membership.objects.filter(lead=survivor).order_by("pk")
    # the person's explicit Beta beats the domain's Acme; Acme's link stays as history
    assert [(m.account_id, m.ended_at is None) for m in rows] == [(acme.pk, False), (beta.pk, True)]


def test_an_account_column_links_explicitly_and_an_unknown_account_fails_only_its_row(run_import):
    acme = _account("Acme", "acme.example")
    beta = account_create(
        data={"name": "Beta", "external_id": "crm-7", "domains": ["beta.example"]}, actor=None
    )
    _account("Twin", "twin-a.example")
    _account("twin", "twin-b.example")
    existing = LeadFactory(email="old@acme.example", domain="acme.example")
    job = run_import(
        b"email,account\n"
        b"ann@acme.example,crm-7\n"  # external id: Beta, though the domain is Acme's
        b"old@acme.example,BETA.example\n"  # an existing lead moved by a domain of Beta
        b"cy@gmail.com,acme\n"  # the exact name, any case
        b"dee@x.example,Nobody Inc\n"
        b"eve@x.example,Twin\n",
        policy="fill",
    )
    assert (job.created, job.failed) == (2, 2)
    current = {
        m.lead.email: m.account_id
        for m in Membership.objects.filter(ended_at__isnull=True).select_related("lead")
    }
    assert current == {
        "ann@acme.example": beta.pk,
        "old@acme.example": beta.pk,
        "cy@gmail.com": acme.pk,
    }
    assert Membership.objects.get(lead=existing, ended_at__isnull=True).source == "explicit"
    errors = {e.row: (e.column, e.value, e.message) for e in job.row_errors.all()}
    assert errors[5] == ("account", "Nobody Inc", "no account has this external id, domain or name")
    assert "two or more accounts" in errors[6][2]
    assert not Lead.objects.filter(email__in=["dee@x.example", "eve@x.example"]).exists()

"""Accounts stay right through the bulk paths: imported leads join their domain's account, and
merging two leads keeps both leads' account history."""

import pytest

from companies.models import Membership
from companies.services import account_create, member_link
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

"""An erased person leaves their account (and its score), keeps the link as history without a
person in it, and their account links are part of their data export."""

import pytest

from companies import services
from companies.models import AccountRescoreMark, Membership
from privacy.gdpr import lead_erase, personal_data
from tests.leads.factories import LeadFactory


@pytest.mark.django_db
def test_erasing_a_member_ends_the_link_and_marks_the_account(marketer):
    account = services.account_create(data={"name": "Vltava s.r.o."}, actor=None)
    lead = LeadFactory(email="jana@vltava.example")
    services.member_link(lead_id=lead.pk, account_id=account.pk, source="explicit", reason="CRM")
    exported = personal_data(lead=lead)["account_memberships"]
    assert [(m["account_id"], m["source"]) for m in exported] == [(account.pk, "explicit")]
    AccountRescoreMark.objects.all().delete()
    lead_erase(lead_id=lead.pk, actor=marketer)
    link = Membership.objects.get(lead=lead)
    assert link.ended_at is not None
    assert link.reason == "CRM"  # why it began stays
    assert AccountRescoreMark.objects.filter(account=account).exists()
    assert not Membership.objects.filter(account=account, ended_at__isnull=True).exists()

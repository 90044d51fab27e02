"""A merge keeps the custom values of both leads, key by key (the survivor's win)."""

import pytest

from leads.models import FieldType, Lead
from privacy.merge import lead_merge
from tests.leads.custom_fields import make_field
from tests.leads.factories import LeadFactory


@pytest.mark.django_db
def test_a_merge_keeps_both_leads_custom_values_the_survivors_winning():
    make_field("seats", FieldType.INTEGER)
    make_field("erp", FieldType.TEXT)
    make_field("tier", FieldType.TEXT)
    survivor = LeadFactory(custom={"seats": 10})
    duplicate = LeadFactory(custom={"seats": 3, "erp": "sap"})
    bare = LeadFactory()
    lead_merge(survivor_id=survivor.pk, duplicate_id=duplicate.pk, actor=None)
    assert Lead.objects.get(pk=survivor.pk).custom == {"seats": 10, "erp": "sap"}
    lead_merge(survivor_id=bare.pk, duplicate_id=survivor.pk, actor=None)
    assert Lead.objects.get(pk=bare.pk).custom == {"seats": 10, "erp": "sap"}

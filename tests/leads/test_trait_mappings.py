"""Segment identify traits mapped to custom fields (Settings › Trait mappings): a mapped trait's
value is checked as its field's type and lands in ``Lead.custom``, not in ``traits``."""

import uuid
from datetime import UTC, datetime

import pytest
from segment.analytics.client import Client as SegmentClient

from leads.models import FieldType, IdentifyReceipt, Lead, TraitMapping
from tests.leads.custom_fields import make_field
from tests.leads.factories import LeadFactory
from tests.leads.test_public_keys import sign
from tests.leads.test_segment import msg, post


@pytest.fixture
def mapped(db):
    seats = make_field("seats", FieldType.INTEGER, label="Seats")
    erp = make_field(
        "erp", FieldType.CHOICE, label="ERP", choices=[{"value": "sap", "label": "SAP"}]
    )
    TraitMapping.objects.create(trait="employees", field=seats)
    TraitMapping.objects.create(trait="erpSystem", field=erp)
    return {"seats": seats, "erp": erp}


def identify(user_id, traits, **fields):
    message = msg("identify", userId=user_id, traits=traits, **fields)
    message.pop("anonymousId")
    return message


@pytest.mark.django_db
def test_mapped_traits_go_to_custom_checked_the_rest_to_traits(writer, mapped):
    traits = {"email": "ann@acme.example", "employees": "250", "erpSystem": "SAP", "plan": "pro"}
    body = post("/v1/batch", {"batch": [identify("u-1", traits)]}, writer).json()
    assert body.get("errors", []) == []
    lead = Lead.objects.get(external_id="u-1")
    assert lead.custom == {"seats": 250, "erp": "sap"}
    assert lead.traits == {"plan": "pro"}

    later = identify("u-1", {"employees": 300, "erpSystem": None})
    assert post("/v1/batch", {"batch": [later]}, writer).json().get("errors", []) == []
    lead.refresh_from_db()
    assert lead.custom == {"seats": 300}
    assert lead.traits == {"plan": "pro"}


@pytest.mark.django_db
def test_a_wrong_type_fails_the_item_naming_trait_field_and_type_and_applies_none_of_it(
    writer, mapped
):
    lead = LeadFactory(external_id="u-2", first_name="Ann", custom={"seats": 5})
    batch = [
        identify("u-2", {"firstName": "Bea", "employees": "lots", "erpSystem": "sap"}),
        identify("u-3", {"email": "new@acme.example", "employees": "many"}),
        identify("u-4", {"email": "ok@acme.example", "employees": 7}),
    ]
    body = post("/v1/batch", {"batch": batch}, writer).json()
    errors = {e["index"]: e for e in body["errors"]}
    assert sorted(errors) == [0, 1]
    assert errors[0]["code"] == "invalid"
    assert errors[0]["field"] == "traits.employees"
    message = errors[0]["message"]
    assert "'employees'" in message
    assert "'seats'" in message
    assert "a whole number" in message
    lead.refresh_from_db()
    assert (lead.first_name, lead.custom) == ("Ann", {"seats": 5})
    assert not Lead.objects.filter(external_id="u-3").exists()  # nothing created for it
    assert IdentifyReceipt.objects.count() == 1  # u-4 only: the failed items can be resent
    assert Lead.objects.get(external_id="u-4").custom == {"seats": 7}


@pytest.mark.django_db
def test_an_unmapped_trait_of_the_same_name_as_a_field_stays_a_trait(writer, mapped):
    post("/v1/batch", {"batch": [identify("u-5", {"seats": "nine"})]}, writer)
    lead = Lead.objects.get(external_id="u-5")
    assert (lead.traits, lead.custom) == ({"seats": "nine"}, {})


@pytest.mark.django_db
def test_a_public_key_sets_custom_values_only_where_it_may_change_the_lead(make_api_key, mapped):
    secret, key = make_api_key("events:write", kind="public")
    known = LeadFactory(email="vera@victim.example", external_id="u-vera", custom={"seats": 5})
    batch = [
        identify("u-vera", {"employees": 1}),
        identify("u-new", {"email": "new@site.example", "employees": 3}),
    ]
    body = post("/v1/batch", {"batch": batch}, secret).json()
    known.refresh_from_db()
    assert known.custom == {"seats": 5}
    assert [(e["index"], e["ignored_fields"]) for e in body["ignored"]] == [
        (0, ["traits.employees"])
    ]
    assert Lead.objects.get(external_id="u-new").custom == {"seats": 3}

    signed = identify(
        "u-vera", {"employees": 9}, context={"userHash": sign(key.identity_secret, "u-vera")}
    )
    assert post("/v1/batch", {"batch": [signed]}, secret).json().get("ignored", []) == []
    known.refresh_from_db()
    assert known.custom == {"seats": 9}


@pytest.mark.django_db
def test_an_anonymous_visitors_custom_values_follow_it_into_the_known_lead(writer, mapped):
    first = msg("identify", anonymousId="a-1", traits={"employees": 12})
    post("/v1/batch", {"batch": [first]}, writer)
    known = LeadFactory(external_id="u-9", custom={"erp": "sap"})
    post("/v1/batch", {"batch": [msg("identify", userId="u-9", anonymousId="a-1")]}, writer)
    known.refresh_from_db()
    assert known.custom == {"erp": "sap", "seats": 12}


def test_the_real_segment_client_sends_mapped_traits(live_server, make_api_key, transactional_db):
    secret, _ = make_api_key("events:write")
    seats = make_field("seats", FieldType.INTEGER, label="Seats")
    TraitMapping.objects.create(trait="employees", field=seats)
    failures = []
    client = SegmentClient(
        write_key=secret,
        host=live_server.url,
        max_retries=0,
        on_error=lambda error, batch: failures.append((error, batch)),
    )
    tag = uuid.uuid4().hex[:6]
    when = datetime.now(UTC).replace(microsecond=0)
    client.identify(user_id=f"{tag}-ok", traits={"employees": 40, "plan": "pro"}, timestamp=when)
    client.identify(user_id=f"{tag}-bad", traits={"employees": "forty"}, timestamp=when)
    client.flush()
    client.join()
    assert failures == []  # item errors are reported in a 200 reply, not a failed batch
    lead = Lead.objects.get(external_id=f"{tag}-ok")
    assert (lead.custom, lead.traits) == ({"seats": 40}, {"plan": "pro"})
    assert not Lead.objects.filter(external_id=f"{tag}-bad").exists()

"""Custom fields (issue 24): each type's values (valid, invalid, empty, required), role
visibility, the filters, a type change with its preview and audit, deletion, and the
PostgreSQL indexes the filters use."""

import threading
import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import QueryDict

from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads import customfield_services as cfs
from leads import customfields as cf
from leads import services
from leads.filtersets import LeadFilterSet
from leads.models import CustomField, FieldType, Lead
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


def make(key: str, type_: str, **extra) -> CustomField:
    return cfs.field_create(
        data={"key": key, "label": key.title(), "type": type_, **extra}, actor=None
    )


# (type, extra definition, raw value -> stored value, raw values refused)
CASES = [
    (FieldType.TEXT, {}, [(" ERP ", "ERP"), (12, "12")], [["a"], "x" * 256, True]),
    (FieldType.LONG_TEXT, {}, [("line 1\nline 2", "line 1\nline 2")], ["x" * 10_001, {"a": 1}]),
    (
        FieldType.INTEGER,
        {},
        [("12", 12), (7, 7), ("-3", -3), ("4.0", 4)],
        ["1.5", "abc", True, "1e30"],
    ),
    (
        FieldType.DECIMAL,
        {},
        [("1.50", "1.5"), (2, "2"), ("-0.25", "-0.25")],
        ["abc", "NaN", "Infinity", False],
    ),
    (FieldType.MONEY, {"currency": "eur"}, [("1250.5", "1250.50"), (3, "3.00")], ["1.005", "ten"]),
    (FieldType.DATE, {}, [("2026-12-05", "2026-12-05")], ["05.12.2026", "2026-02-30", 20261205]),
    (
        FieldType.DATETIME,
        {},
        [("2026-12-05T10:30:00+01:00", "2026-12-05T09:30:00Z")],
        ["2026-12-05 25:00", "tomorrow"],
    ),
    (
        FieldType.BOOLEAN,
        {},
        [("yes", True), ("nein", False), (True, True), ("1", True)],
        ["maybe", 2],
    ),
    (
        FieldType.CHOICE,
        {"choices": [{"value": "sap", "label": "SAP S/4HANA"}, "Oracle"]},
        [("sap", "sap"), ("sap s/4hana", "sap"), ("ORACLE", "Oracle")],
        ["Navision", ["sap"]],
    ),
    (
        FieldType.MULTI_CHOICE,
        {"choices": ["CRM", "HR", "Finance"]},
        [("finance; crm", ["CRM", "Finance"]), (["HR"], ["HR"])],
        ["CRM; Payroll", 5],
    ),
    (
        FieldType.URL,
        {},
        [("https://example.com/a", "https://example.com/a")],
        ["ftp://x.org", "no url"],
    ),
    (FieldType.EMAIL, {}, [("Ana@Example.COM", "ana@example.com")], ["ana@", "@x"]),
]


@pytest.mark.parametrize(("type_", "extra", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_each_type_stores_its_clean_form_and_names_the_field_and_type_when_refused(
    type_, extra, good, bad
) -> None:
    field = make("value", type_, **extra)
    for raw, stored in good:
        lead = services.lead_create(
            data={"email": f"{abs(hash(str(raw)))}@x.com", "custom": {"value": raw}}
        )
        assert Lead.objects.get(pk=lead.pk).custom == {"value": stored}, raw
    before = Lead.objects.count()
    for raw in bad:
        with pytest.raises(ValidationError) as err:
            services.lead_create(data={"email": "bad@x.com", "custom": {"value": raw}})
        message = err.value.message_dict["custom.value"][0]
        assert message.startswith(f"{field.label}: ")
        assert "expected" in message or "not one of" in message or "at most" in message, message
    assert Lead.objects.count() == before  # nothing half-written


@pytest.mark.parametrize("empty", [None, "", "   ", []])
def test_empty_values_are_left_out_on_create_and_clear_on_update(empty) -> None:
    make("plan", FieldType.TEXT)
    lead = services.lead_create(data={"email": "e@x.com", "custom": {"plan": empty}})
    assert lead.custom == {}
    services.lead_update(lead_id=lead.pk, data={"custom": {"plan": "pro"}})
    services.lead_update(lead_id=lead.pk, data={"custom": {"plan": empty}})
    assert Lead.objects.get(pk=lead.pk).custom == {}


def test_a_user_field_takes_an_active_users_id() -> None:
    make("advisor", FieldType.USER)
    user = UserFactory()
    lead = services.lead_create(data={"email": "u@x.com", "custom": {"advisor": str(user.pk)}})
    assert lead.custom == {"advisor": user.pk}
    user.is_active = False
    user.save()
    with pytest.raises(ValidationError, match="no active user"):
        services.lead_update(lead_id=lead.pk, data={"custom": {"advisor": user.pk}})


def test_required_fields_are_required_where_people_create_leads_and_defaults_fill_in() -> None:
    make("erp", FieldType.CHOICE, choices=["SAP", "Oracle"], required=True)
    make("locations", FieldType.INTEGER, default="1")
    with pytest.raises(ValidationError) as err:
        services.lead_create(data={"email": "r@x.com"}, require_custom=True)
    assert err.value.message_dict == {"custom.erp": ["Erp: this field is required."]}
    # event ingestion does not know it (an anonymous visitor): the lead is still made
    lead = services.lead_create(data={"email": "r@x.com"})
    assert lead.custom == {"locations": 1}
    with pytest.raises(ValidationError, match="required"):
        services.lead_update(lead_id=lead.pk, data={"custom": {"erp": ""}})
    services.lead_update(lead_id=lead.pk, data={"custom": {"erp": "sap"}})
    assert Lead.objects.get(pk=lead.pk).custom == {"locations": 1, "erp": "SAP"}


def test_unknown_keys_and_non_objects_are_refused_by_name() -> None:
    make("erp", FieldType.TEXT)
    with pytest.raises(ValidationError) as err:
        services.lead_create(data={"email": "k@x.com", "custom": {"erp": "x", "nope": 1}})
    assert list(err.value.message_dict) == ["custom.nope"]
    assert "Unknown custom field 'nope'" in err.value.message_dict["custom.nope"][0]
    with pytest.raises(ValidationError) as err:
        services.lead_create(data={"email": "k@x.com", "custom": ["erp"]})
    assert "custom" in err.value.message_dict


def test_updates_merge_key_by_key_and_older_events_do_not_overwrite_newer_values() -> None:
    make("erp", FieldType.TEXT)
    make("plan", FieldType.TEXT)
    lead = services.lead_create(data={"email": "m@x.com", "custom": {"erp": "SAP"}})
    services.lead_update(lead_id=lead.pk, data={"custom": {"plan": "pro"}})
    lead.refresh_from_db()
    assert lead.custom == {"erp": "SAP", "plan": "pro"}
    assert lead.field_times is not None
    stamp = lead.field_times["custom.plan"]
    from datetime import datetime, timedelta

    older = datetime.fromisoformat(stamp) - timedelta(hours=1)
    services.lead_update(
        lead_id=lead.pk, data={"custom": {"plan": "free", "erp": "Oracle"}}, as_of=older
    )
    lead.refresh_from_db()
    assert lead.custom["plan"] == "pro"  # newer value kept


def test_roles_see_and_edit_only_their_fields() -> None:
    rep, marketer, admin = (
        UserFactory(role=Role.SALES_REP),
        UserFactory(role=Role.MARKETER),
        UserFactory(role=Role.ADMIN),
    )
    make("budget", FieldType.MONEY, currency="EUR", visible_to=[Role.SALES_REP, Role.SALES_MANAGER])
    make("segment", FieldType.TEXT, editable_by=[Role.MARKETER])
    keys = lambda fields: [f.key for f in fields]  # noqa: E731
    assert keys(cf.visible_fields(rep)) == ["budget", "segment"]
    assert keys(cf.visible_fields(marketer)) == ["segment"]
    assert keys(cf.editable_fields(rep)) == ["budget"]
    assert keys(cf.editable_fields(marketer)) == ["segment"]
    assert keys(cf.editable_fields(admin)) == ["budget", "segment"]
    with pytest.raises(ValidationError) as err:
        cf.check_editable(marketer, ["budget", "segment"], cf.lead_fields())
    assert list(err.value.message_dict) == ["custom.budget"]
    # a filter on a field one may not see does not exist for them (no inference by filtering)
    LeadFactory(custom={"budget": "900.00"})
    assert (
        "cf_budget"
        not in LeadFilterSet(QueryDict(), queryset=Lead.objects.all(), user=marketer).filters
    )
    assert "cf_budget" in LeadFilterSet(QueryDict(), queryset=Lead.objects.all(), user=rep).filters


def test_definitions_are_checked() -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"key": "Bad Key"}, "key"),
        ({"key": "a__b"}, "key"),
        ({"key": "email"}, "key"),
        ({"type": "colour"}, "type"),
        ({"type": FieldType.CHOICE, "choices": []}, "choices"),
        ({"type": FieldType.CHOICE, "choices": ["a", "A"]}, "choices"),
        ({"type": FieldType.MONEY}, "currency"),
        ({"type": FieldType.INTEGER, "default": "many"}, "default"),
        ({"visible_to": ["pirate"]}, "visible_to"),
    ]
    for extra, field in bad:
        data = {"key": "ok", "label": "OK", "type": FieldType.TEXT, **extra}
        with pytest.raises(ValidationError) as err:
            cfs.field_create(data=data, actor=None)
        assert field in err.value.message_dict, extra
    make("erp", FieldType.TEXT)
    with pytest.raises(ValidationError, match="already"):
        make("erp", FieldType.TEXT)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cf_erp=SAP", {"a"}),
        ("cf_erp=sap&cf_erp=Oracle", {"a", "b"}),
        ("cf_city=berlin", {"a"}),
        ("cf_locations__min=10", {"a"}),
        ("cf_locations__max=9", {"b"}),
        ("cf_locations__min=3&cf_locations__max=12", {"a", "b"}),
        ("cf_since__min=2026-01-01", {"b"}),
        ("cf_partner=yes", {"a"}),
        ("cf_partner=no", {"b"}),
        ("cf_modules=HR", {"b"}),
        ("cf_modules=crm&cf_modules=hr", {"a", "b"}),
        ("cf_erp__empty=true", {"c"}),
        ("cf_erp__empty=false", {"a", "b"}),
    ],
)
def test_filters_by_type(query, expected) -> None:
    make("erp", FieldType.CHOICE, choices=["SAP", "Oracle"], filterable=True)
    make("city", FieldType.TEXT, filterable=True)
    make("locations", FieldType.INTEGER, filterable=True)
    make("since", FieldType.DATE)
    make("partner", FieldType.BOOLEAN)
    make("modules", FieldType.MULTI_CHOICE, choices=["CRM", "HR"])
    leads = {
        "a": {"erp": "SAP", "city": "Berlin", "locations": 12, "partner": True, "modules": ["CRM"]},
        "b": {
            "erp": "Oracle",
            "locations": 3,
            "since": "2026-03-01",
            "partner": False,
            "modules": ["HR"],
        },
        "c": {},
    }
    ids = {
        services.lead_create(data={"email": f"{k}@x.com", "custom": v}).pk: k
        for k, v in leads.items()
    }
    fs = LeadFilterSet(QueryDict(query), queryset=Lead.objects.all())
    assert fs.is_valid(), fs.errors
    assert {ids[pk] for pk in fs.qs.values_list("pk", flat=True)} == expected


def test_a_filter_value_of_the_wrong_type_is_a_form_error_naming_the_field() -> None:
    make("locations", FieldType.INTEGER)
    fs = LeadFilterSet(QueryDict("cf_locations__min=many"), queryset=Lead.objects.all())
    assert not fs.is_valid()
    assert "Locations: expected a whole number" in str(fs.errors["cf_locations__min"])


def test_type_change_previews_converts_and_keeps_dropped_values_in_the_audit_log() -> None:
    field = make("locations", FieldType.TEXT)
    good = services.lead_create(data={"email": "g@x.com", "custom": {"locations": "12"}})
    bad = services.lead_create(data={"email": "b@x.com", "custom": {"locations": "a dozen"}})
    services.lead_create(data={"email": "n@x.com"})
    _, preview = cfs.preview_type_change(field_id=field.pk, to=FieldType.INTEGER)
    assert (preview.total, preview.convert, preview.fail) == (2, 1, 1)
    assert preview.failures[0][:2] == (bad.pk, "a dozen")
    # someone saw "0 dropped": the change is refused, nothing converted
    with pytest.raises(cfs.FieldInUseError):
        cfs.field_change_type(field_id=field.pk, to=FieldType.INTEGER, actor=None, expect_dropped=0)
    assert Lead.objects.get(pk=good.pk).custom == {"locations": "12"}
    cfs.field_change_type(field_id=field.pk, to=FieldType.INTEGER, actor=None, expect_dropped=1)
    assert Lead.objects.get(pk=good.pk).custom == {"locations": 12}
    assert Lead.objects.get(pk=bad.pk).custom == {}
    kept = AuditEvent.objects.get(action="custom_field.values_dropped")
    assert kept.details["values"] == {str(bad.pk): "a dozen"}
    change = AuditEvent.objects.get(action="custom_field.type_change")
    expected = {"from": "text", "to": "integer", "converted": 1, "dropped": 1}
    assert {k: change.details[k] for k in expected} == expected


def test_choice_labels_rename_without_touching_values_and_held_choices_stay() -> None:
    field = make("erp", FieldType.CHOICE, choices=["SAP", "Oracle"])
    lead = services.lead_create(data={"email": "c@x.com", "custom": {"erp": "SAP"}})
    cfs.field_update(
        field_id=field.pk,
        data={
            "choices": [
                {"value": "SAP", "label": "SAP S/4HANA"},
                {"value": "Oracle", "label": "Oracle"},
            ]
        },
        actor=None,
    )
    field.refresh_from_db()
    assert cf.display(field, Lead.objects.get(pk=lead.pk).custom["erp"]) == "SAP S/4HANA"
    with pytest.raises(ValidationError, match="1 lead"):
        cfs.field_update(field_id=field.pk, data={"choices": ["Oracle"]}, actor=None)
    cfs.field_update(field_id=field.pk, data={"choices": ["SAP"]}, actor=None)  # unused: fine


def test_deleting_a_field_drops_its_values_into_the_audit_log() -> None:
    field = make("erp", FieldType.TEXT)
    make("plan", FieldType.TEXT)
    lead = services.lead_create(data={"email": "d@x.com", "custom": {"erp": "SAP", "plan": "pro"}})
    assert cfs.preview_delete(field_id=field.pk).total == 1
    assert cfs.field_delete(field_id=field.pk, actor=None) == 1
    assert Lead.objects.get(pk=lead.pk).custom == {"plan": "pro"}
    assert AuditEvent.objects.get(action="custom_field.values_dropped").details["values"] == {
        str(lead.pk): "SAP"
    }
    assert not CustomField.objects.filter(key="erp").exists()


@pytest.mark.postgres
def test_filterable_fields_are_answered_from_their_indexes(
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # indexes are made after commit
        make("erp", FieldType.CHOICE, choices=["SAP", "Oracle"], filterable=True)
        make("locations", FieldType.INTEGER, filterable=True)
        make("partner", FieldType.BOOLEAN)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'leads_lead'")
        names = {row[0] for row in cursor.fetchall()}
    assert {"lead_cf_erp_idx", "lead_cf_locations_idx", "lead_custom_gin"} <= names
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few rows: the plan, not the cost
        for query, index in [
            ("cf_erp=SAP", "lead_cf_erp_idx"),
            ("cf_locations__min=5", "lead_cf_locations_idx"),
            ("cf_partner=yes", "lead_custom_gin"),
        ]:
            qs = LeadFilterSet(QueryDict(query), queryset=Lead.objects.all()).qs
            assert index in qs.explain(), query
    with django_capture_on_commit_callbacks(execute=True):
        erp = CustomField.objects.get(key="erp")
        cfs.field_update(field_id=erp.pk, data={"filterable": False}, actor=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'lead_cf_erp_idx'")
        assert cursor.fetchone() is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_creating_the_same_key_at_once_get_one_field_and_a_clear_refusal() -> None:
    """The second create passes the "key taken?" check while the first's row is uncommitted,
    then its INSERT waits on that row and violates the unique key: it is refused like any
    taken key (it answered 500)."""
    inserted = threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                make("erp", FieldType.TEXT)
                inserted.set()
                with connection.cursor() as cursor:  # commit once the second waits on the row
                    for _ in range(200):
                        cursor.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND datname = current_database()"
                        )
                        if cursor.fetchone()[0]:
                            break
                        time.sleep(0.05)
        finally:
            connection.close()

    def second() -> None:
        inserted.wait(10)
        try:
            make("erp", FieldType.TEXT)
            outcome["second"] = "created"
        except ValidationError as exc:
            outcome["second"] = exc.message_dict
        except Exception as exc:  # what answered 500
            outcome["second"] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome["second"] == {"key": ["There is a field with the key 'erp' already."]}
    assert CustomField.objects.filter(key="erp").count() == 1

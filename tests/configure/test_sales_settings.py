"""The sales Settings pages: one generic list / create / edit / delete per configuration kind,
with the model's own validation, the section's permission, in-use deletion refused, and an audit
row naming the acting user for every change."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from attribution.models import Touch
from configure.sales_registry import KINDS
from handover.models import (
    AssignmentMember,
    AssignmentRule,
    BusinessCalendarConfig,
    Handover,
    QualificationFramework,
    RejectionReason,
    SlaPolicy,
    SlaTimer,
)
from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import CustomField, FieldType, Team
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

SALES_KINDS = [k for k in KINDS if k not in ("teams", "trait_mappings")]  # admins' only


@pytest.fixture
def ada(db):
    return UserFactory(username="ada", role=Role.ADMIN)


def _calendar() -> BusinessCalendarConfig:
    return BusinessCalendarConfig.objects.order_by("pk")[0]  # the installed default


def valid(kind: str, people) -> dict[str, Any]:
    """A POST that the model accepts, per kind."""
    rep, other = people
    cases: dict[str, Any] = {
        "sla_policies": lambda: {
            "name": "Fast MQL",
            "stage": "mql",
            "calendar": str(_calendar().pk),
            "target_minutes": "120",
            "warn_before_minutes": "30",
            "escalation": json.dumps([{"after_minutes": 0, "action": "remind_owner"}]),
            "active": "",  # one active policy per stage: the default one is
        },
        "calendars": lambda: {
            "name": "Berlin office",
            "time_zone": "Europe/Berlin",
            "working_hours": json.dumps({"mon": [["09:00", "17:00"]]}),
            "holidays": "2026-12-25\n2026-12-26\n",
        },
        "assignment_rules": lambda: {
            "name": "DACH",
            "position": "10",
            "active": "on",
            "countries": "de, at",
            "industries": "",
            "company_sizes": "",
            "capacity_period": "day",
            "members-TOTAL_FORMS": "2",
            "members-INITIAL_FORMS": "0",
            "members-0-user": str(rep.pk),
            "members-0-weight": "1",
            "members-0-active": "on",
            "members-1-user": str(other.pk),
            "members-1-weight": "2",
            "members-1-active": "on",
        },
        "rep_profiles": lambda: {
            "user": str(rep.pk),
            "calendar": str(_calendar().pk),
            "accepts_leads": "on",
        },
        "out_of_office": lambda: {
            "user": str(rep.pk),
            "starts_at": "2026-08-01T00:00",
            "ends_at": "2026-08-15T00:00",
            "note": "Summer",
        },
        "rejection_reasons": lambda: {
            "code": "no-budget-yet",
            "label": "No budget this year",
            "route": "nurture",
            "position": "5",
            "active": "on",
        },
        "exit_reasons": lambda: {
            "code": "lost-to-inhouse",
            "label": "Built it in-house",
            "route": "either",
            "position": "5",
            "active": "on",
        },
        "frameworks": lambda: {
            "code": "mini",
            "name": "Mini",
            "criteria": json.dumps([{"key": "budget"}, {"key": "need", "label": "Need"}]),
            "min_met": "1",
            "required": "need",
            "active": "on",
        },
        "teams": lambda: {"name": "Field", "manager": str(other.pk), "members": [str(rep.pk)]},
        "tags": lambda: {"name": "Trade fair 2026", "colour": "teal"},
        "channel_rules": lambda: {
            "position": "5",
            "channel": "Trade fairs",
            "source_pattern": "^fair-",
            "medium_pattern": "",
            "campaign_pattern": "",
            "active": "on",
        },
        "exchange_rates": lambda: {"currency": "huf", "rate": "0.0025"},
        "spend": lambda: {
            "month": "2026-03",
            "source": "",
            "medium": "",
            "campaign": _touched_campaign(),
            "amount": "1200.00",
            "currency": "",
        },
        "trait_mappings": lambda: {"trait": "employees", "field": str(_seats_field().pk)},
    }
    return dict(cases[kind]())


# kind -> (fields to change in the valid POST, the model's message that must show)
INVALID = {
    "sla_policies": ({"warn_before_minutes": "120"}, "The warning must come before the deadline."),
    "calendars": ({"time_zone": "Mars/Olympus"}, "Unknown time zone"),
    "assignment_rules": ({"members-1-user": None}, "Please correct the duplicate data for user."),
    "rep_profiles": ({"calendar": "999999"}, "Select a valid choice"),
    "out_of_office": ({"ends_at": "2026-07-01T00:00"}, "ooo_order"),
    "rejection_reasons": ({"code": "other"}, "already exists"),
    "exit_reasons": ({"code": "lost_price"}, "already exists"),
    "frameworks": ({"min_met": "3"}, "The minimum must be between 0 and 2."),
    "teams": ({"name": ""}, "This field is required."),
    "tags": ({"name": "x" * 51}, "at most 50 characters"),
    "channel_rules": ({"medium_pattern": "cpc("}, "Not a regular expression"),
    "exchange_rates": ({"currency": "XYZ"}, "is not an ISO 4217 currency code"),
    "spend": ({"campaign": "never-clicked"}, "No touch has the campaign"),
    "trait_mappings": ({"trait": "email"}, "fills a lead field of its own"),
}


def _touched_campaign() -> str:
    """A campaign some touch carries (spend may only name such a campaign)."""
    if not Touch.objects.filter(campaign="spring-sale").exists():
        Touch.objects.create(
            lead=LeadFactory(), occurred_at=timezone.now(), kind="created", campaign="spring-sale"
        )
    return "spring-sale"


def _seats_field() -> CustomField:
    return CustomField.objects.get_or_create(
        key="seats", defaults={"label": "Seats", "type": FieldType.INTEGER}
    )[0]


def _people():
    return (
        UserFactory(username="rita", role=Role.SALES_REP, first_name="Rita"),
        UserFactory(username="raj", role=Role.SALES_REP, first_name="Raj"),
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_create_then_edit_each_kind_with_an_audit_row(client, ada, kind):
    people = _people()
    model = KINDS[kind].model
    before = set(model.objects.values_list("pk", flat=True))
    client.force_login(ada)
    url = reverse(f"configure:{kind}_new")
    assert client.get(url).status_code == 200

    response = client.post(url, valid(kind, people))

    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == reverse(f"configure:{kind}")
    (pk,) = set(model.objects.values_list("pk", flat=True)) - before
    event = AuditEvent.objects.get(action="settings.create", target_id=str(pk))
    assert (event.actor, event.target_type) == (ada, model._meta.label_lower)
    listing = client.get(reverse(f"configure:{kind}")).content.decode()
    assert reverse(f"configure:{kind}_edit", args=[pk]) in listing

    edit = client.get(reverse(f"configure:{kind}_edit", args=[pk]))
    assert edit.status_code == 200
    data = valid(kind, people)
    if kind == "assignment_rules":  # the two members now exist: edit them, drop one
        members = list(AssignmentMember.objects.filter(rule_id=pk).order_by("pk"))
        data |= {
            "members-TOTAL_FORMS": "2",
            "members-INITIAL_FORMS": "2",
            "members-0-id": str(members[0].pk),
            "members-0-weight": "3",
            "members-1-id": str(members[1].pk),
            "members-1-DELETE": "on",
        }
    response = client.post(reverse(f"configure:{kind}_edit", args=[pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert AuditEvent.objects.filter(action="settings.update", target_id=str(pk)).exists()


def test_the_forms_store_what_was_typed(client, ada):
    people = _people()
    client.force_login(ada)
    for kind in ("calendars", "assignment_rules", "frameworks", "teams"):
        client.post(reverse(f"configure:{kind}_new"), valid(kind, people))
    calendar = BusinessCalendarConfig.objects.get(name="Berlin office")
    assert calendar.holidays == ["2026-12-25", "2026-12-26"]
    rule = AssignmentRule.objects.get(name="DACH")
    assert rule.countries == ["DE", "AT"]  # the model's clean() upper-cases them
    assert sorted(rule.members.values_list("user__username", "weight")) == [("raj", 2), ("rita", 1)]
    assert QualificationFramework.objects.get(code="mini").required == ["need"]
    assert list(Team.objects.get(name="Field").members.all()) == [people[0]]


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_models_rules_refuse_bad_input_and_nothing_is_saved(client, ada, kind):
    people = _people()
    model = KINDS[kind].model
    count = model.objects.count()
    changes, message = INVALID[kind]
    data = valid(kind, people)
    for name, value in changes.items():
        data[name] = str(people[0].pk) if value is None else value  # None: the first member
    client.force_login(ada)

    response = client.post(reverse(f"configure:{kind}_new"), data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert model.objects.count() == count
    assert not AuditEvent.objects.filter(action__startswith="settings.").exists()


def test_a_policy_whose_fields_do_not_parse_is_a_form_error_not_a_500(client, ada):
    client.force_login(ada)
    data = valid("frameworks", _people()) | {"min_met": "", "criteria": "not json"}
    response = client.post(reverse("configure:frameworks_new"), data)
    assert response.status_code == 422
    assert "Enter a valid JSON." in response.content.decode()


@pytest.mark.parametrize("role", [Role.SALES_REP, Role.MARKETER])
def test_reps_and_marketers_get_403_everywhere(client, role):
    """(Except Settings › Tags, Channel grouping and Campaign spend for marketers: they keep
    those lists.)"""
    client.force_login(UserFactory(username="someone", role=role))
    for kind in KINDS:
        if kind in ("tags", "channel_rules", "spend") and role == Role.MARKETER:
            assert client.get(reverse(f"configure:{kind}")).status_code == 200
            continue
        assert client.get(reverse(f"configure:{kind}")).status_code == 403
        assert client.post(reverse(f"configure:{kind}_new"), {}).status_code == 403
    assert client.get(reverse("configure:users")).status_code == 403
    reason = RejectionReason.objects.first()
    url = reverse("configure:rejection_reasons_delete", args=[reason.pk])
    assert client.post(url).status_code == 403
    url = reverse("configure:rejection_reasons_deactivate", args=[reason.pk])
    assert client.post(url).status_code == 403
    assert RejectionReason.objects.get(pk=reason.pk).active is True


def test_a_manager_edits_sales_settings_but_not_users_or_teams(client, manager):
    client.force_login(manager)
    for kind in SALES_KINDS:
        assert client.get(reverse(f"configure:{kind}")).status_code == 200
        assert client.get(reverse(f"configure:{kind}_new")).status_code == 200
    assert client.get(reverse("configure:teams")).status_code == 403
    assert client.get(reverse("configure:users")).status_code == 403
    index = client.get(reverse("configure:index")).content.decode()
    assert "SLA policies" in index
    assert reverse("configure:users") not in index
    response = client.post(reverse("configure:sla_policies_new"), valid("sla_policies", _people()))
    assert response.status_code == 302
    assert AuditEvent.objects.get(action="settings.create").actor == manager


def _reason() -> RejectionReason:
    return RejectionReason.objects.create(code="gone", label="Gone", route="disqualify")


def test_a_reason_decisions_used_is_not_deleted_and_the_page_says_why(client, manager):
    reason = _reason()
    for _ in range(2):
        Handover.objects.create(
            lead=LeadFactory(),
            status=Handover.Status.REJECTED,
            opened_at=timezone.now(),
            rejection_reason=reason,
        )
    client.force_login(manager)

    response = client.post(reverse("configure:rejection_reasons_delete", args=[reason.pk]))

    assert response.status_code == 409
    page = response.content.decode()
    assert "Still in use by 2 handovers" in page
    assert "Deactivate it instead." in page
    assert RejectionReason.objects.filter(pk=reason.pk).exists()
    assert not AuditEvent.objects.filter(action="settings.delete").exists()
    deactivate = reverse("configure:rejection_reasons_deactivate", args=[reason.pk])
    assert f'action="{deactivate}"' in page

    response = client.post(deactivate)

    assert response.status_code == 302
    assert RejectionReason.objects.get(pk=reason.pk).active is False
    event = AuditEvent.objects.get(action="settings.update", target_id=str(reason.pk))
    assert (event.actor, event.details["changed"]) == (manager, ["active"])


def test_a_policy_with_timers_and_a_calendar_with_policies_are_not_deleted(client, manager):
    policy = SlaPolicy.objects.get(stage=Stage.MQL, active=True)
    now = timezone.now()
    SlaTimer.objects.create(
        lead=LeadFactory(stage=Stage.MQL),
        policy=policy,
        stage=Stage.MQL,
        started_at=now,
        due_at=now + timedelta(hours=1),
    )
    client.force_login(manager)

    response = client.post(reverse("configure:sla_policies_delete", args=[policy.pk]))
    assert response.status_code == 409
    assert "Still in use by 1 sla timer" in response.content.decode()

    response = client.post(reverse("configure:calendars_delete", args=[policy.calendar_id]))
    assert response.status_code == 409
    page = response.content.decode()
    assert "SLA polic" in page
    assert "Deactivate it instead." not in page  # a calendar has no "active": only the reason
    url = reverse("configure:calendars_deactivate", args=[policy.calendar_id])
    assert client.post(url).status_code == 403
    assert SlaPolicy.objects.filter(pk=policy.pk).exists()


def test_deleting_an_unused_row_works_and_is_audited(client, manager):
    reason = _reason()
    client.force_login(manager)
    assert (
        client.get(reverse("configure:rejection_reasons_delete", args=[reason.pk])).status_code
        == 200
    )

    response = client.post(reverse("configure:rejection_reasons_delete", args=[reason.pk]))

    assert response.status_code == 302
    assert not RejectionReason.objects.filter(pk=reason.pk).exists()
    event = AuditEvent.objects.get(action="settings.delete")
    assert (event.actor, event.details["name"]) == (manager, "Gone")


def test_teams_cannot_be_deleted_here(client, ada):
    team = Team.objects.create(name="Inside")
    client.force_login(ada)
    assert client.post(reverse("configure:teams_delete", args=[team.pk])).status_code == 403
    assert Team.objects.filter(pk=team.pk).exists()


def test_output_is_escaped(client, manager):
    RejectionReason.objects.create(code="x", label="<script>alert(1)</script>", route="nurture")
    client.force_login(manager)
    page = client.get(reverse("configure:rejection_reasons")).content.decode()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;" in page


def test_the_apis_settings_writes_are_audited_the_same_way(manager):
    """Both paths save through leadflow.config_rows.settings_save: same rules, same audit row."""
    api = APIClient()
    api.force_authenticate(manager)
    body = {"code": "api-made", "label": "Made by API", "route": "nurture"}
    created = api.post("/api/v1/handover/rejection-reasons/", body, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    changed = api.patch(
        f"/api/v1/handover/rejection-reasons/{pk}/", {"label": "Renamed"}, format="json"
    )
    assert changed.status_code == 200, changed.json()

    assert api.delete(f"/api/v1/handover/rejection-reasons/{pk}/").status_code == 204

    events = AuditEvent.objects.filter(target_id=str(pk), target_type="handover.rejectionreason")
    assert [(e.action, e.actor, e.details.get("changed")) for e in events.order_by("id")] == [
        ("settings.create", manager, ["code", "label", "route"]),
        ("settings.update", manager, ["label"]),
        ("settings.delete", manager, None),
    ]
    used = _reason()
    Handover.objects.create(lead=LeadFactory(), opened_at=timezone.now(), rejection_reason=used)
    refused = api.delete(f"/api/v1/handover/rejection-reasons/{used.pk}/")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "in_use"


def test_trait_mappings_are_an_admins_setting_with_custom_fields_only_as_targets(client, ada):
    from leads.models import TraitMapping

    field = _seats_field()
    client.force_login(ada)
    index = client.get(reverse("configure:index")).content.decode()
    assert reverse("configure:trait_mappings") in index
    form = client.get(reverse("configure:trait_mappings_new")).content.decode()
    assert "Seats (seats, Whole number)" in form
    response = client.post(
        reverse("configure:trait_mappings_new"), {"trait": "employees", "field": "999999"}
    )
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    response = client.post(
        reverse("configure:trait_mappings_new"), {"trait": " employees ", "field": field.pk}
    )
    assert response.status_code == 302
    assert TraitMapping.objects.get().trait == "employees"
    again = client.post(
        reverse("configure:trait_mappings_new"), {"trait": "employees", "field": field.pk}
    )
    assert again.status_code == 422  # one field per trait
    assert TraitMapping.objects.count() == 1


@pytest.mark.parametrize("role", [Role.SALES_MANAGER, Role.MARKETER, Role.SALES_REP])
def test_only_admins_see_trait_mappings(client, role):
    client.force_login(UserFactory(username="someone", role=role))
    assert client.get(reverse("configure:trait_mappings")).status_code == 403
    index = client.get(reverse("configure:index")).content.decode()
    assert reverse("configure:trait_mappings") not in index


def test_the_admin_role_holds_the_custom_field_permissions():
    from leadflow.roles import sync_roles

    sync_roles()
    admin = UserFactory(username="ada2", role=Role.ADMIN)
    assert admin.has_perm("leads.change_customfield")
    assert admin.has_perm("leads.change_traitmapping")

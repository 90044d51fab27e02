"""The data-subject request page (issue 17): find a person by e-mail, export, erase with a typed
confirmation; permissions, bad input, audit rows, and the blocklist effect."""

import json

import pytest
from django.urls import reverse
from django.utils.timezone import now
from rest_framework.test import APIClient

from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.models import Activity, Identity, Lead, Note
from leads.services import lead_create
from privacy.blocklist import BlockedIdentifierError
from privacy.gdpr import subject_hash
from privacy.models import BlockedIdentifier, ConsentEvent
from privacy.services import consent_record
from tests.leads.factories import ActivityFactory, LeadFactory, UserFactory

EMAIL = "Ada.Lovelace@Analytical.example"
EMAIL_LOWER = EMAIL.lower()
FIND = reverse("privacy:requests")
EXPORT = reverse("privacy:request_export")
ERASE = reverse("privacy:request_erase")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def ada(rep):
    lead = lead_create(
        data={"email": EMAIL, "first_name": "Ada", "last_name": "Lovelace", "company": "AE Ltd"}
    )
    ActivityFactory(lead=lead)
    ActivityFactory(lead=lead)
    Note.objects.create(lead=lead, author=rep, body="Ada asked for pricing", created_at=now())
    consent_record(lead_id=lead.pk, channel="email", granted=True, source="web form")
    return lead


def _erase(client, lead_ids, confirm, email=EMAIL_LOWER, reason="Art. 17 request"):
    leads = ",".join(str(i) for i in lead_ids)
    return client.post(
        ERASE, {"email": email, "leads": leads, "confirm": confirm, "reason": reason}
    )


# --- permissions ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.SALES_REP, Role.SALES_MANAGER, Role.MARKETER])
def test_only_roles_with_the_privacy_permissions_reach_the_page(client, role, ada):
    client.force_login(UserFactory(role=role))
    assert client.get(FIND).status_code == 403
    assert client.post(FIND, {"email": EMAIL}).status_code == 403
    assert client.post(EXPORT, {"email": EMAIL, "lead": ada.pk}).status_code == 403
    assert _erase(client, [ada.pk], EMAIL).status_code == 403
    assert Lead.objects.get(pk=ada.pk).erased_at is None
    assert not AuditEvent.objects.filter(action__in=["lead.export", "lead.erase"]).exists()


@pytest.mark.django_db
def test_settings_lists_the_request_page_and_audit_log_for_admins_only(client, admin_user, rep):
    client.force_login(rep)
    assert reverse("privacy:requests") not in client.get(reverse("home"), follow=True).text
    assert client.get(reverse("configure:index")).status_code == 403
    client.force_login(admin_user)
    page = client.get(reverse("configure:index")).text
    assert f'href="{FIND}"' in page
    assert f'href="{reverse("privacy:audit_log")}"' in page
    # the top bar keeps to the daily tools: these two are reached through Settings
    top_bar = client.get(reverse("leads:list")).text.split("</header>")[0]
    assert f'href="{FIND}"' not in top_bar
    assert f'href="{reverse("configure:index")}"' in top_bar


@pytest.mark.django_db
def test_export_permission_without_erase_sees_no_erase_form_and_cannot_erase(client, ada):
    from django.contrib.auth.models import Permission

    user = UserFactory(role=Role.MARKETER)  # marketers see every lead
    user.user_permissions.add(Permission.objects.get(codename="export_personal_data"))
    client.force_login(user)
    page = client.post(FIND, {"email": EMAIL})
    assert page.status_code == 200
    assert "Export lead" in page.text
    assert 'id="erase-form"' not in page.text
    assert _erase(client, [ada.pk], EMAIL).status_code == 403
    assert Lead.objects.get(pk=ada.pk).erased_at is None


@pytest.mark.django_db
def test_a_lead_the_user_cannot_see_is_not_found_nor_exported(client, ada, rep):
    """Object check: the page uses lead_visible_qs, as the API does (a rep with the permission
    given by hand still sees only their own leads)."""
    from django.contrib.auth.models import Permission

    rep.user_permissions.add(Permission.objects.get(codename="export_personal_data"))
    client.force_login(rep)
    page = client.post(FIND, {"email": EMAIL})
    assert page.status_code == 200
    assert 'id="nothing-held"' in page.text
    assert client.post(EXPORT, {"email": EMAIL, "lead": ada.pk}).status_code == 404
    assert not AuditEvent.objects.filter(action="lead.export").exists()


# --- find ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_find_is_exact_case_insensitive_and_shows_what_is_held(admin_client, ada):
    LeadFactory(email="ada.lovelace@analytical.example.org")  # not the same address
    page = admin_client.post(FIND, {"email": "  ADA.lovelace@analytical.EXAMPLE "})
    assert page.status_code == 200
    held = page.context["subject"].held
    assert [h.lead.pk for h in held] == [ada.pk]
    assert held[0].counts["activities"] == 2
    assert held[0].counts["notes"] == 1
    assert held[0].counts["consent records"] == 1
    assert held[0].counts["handovers"] == 0
    assert "Type the e-mail address" in page.text
    assert "blocklist" in page.text
    assert EMAIL.lower() not in reverse("privacy:requests")  # the address is never in a URL


@pytest.mark.django_db
def test_find_also_shows_leads_matched_by_an_identity(admin_client, ada):
    other = LeadFactory(email="ada@home.example", first_name="Augusta")
    Identity.objects.create(lead=other, kind="user_id", value=EMAIL.lower())
    page = admin_client.post(FIND, {"email": EMAIL})
    held = {h.lead.pk: h.matched_by for h in page.context["subject"].held}
    assert held == {ada.pk: "e-mail", other.pk: "identity (user id)"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "email",
    [
        "",
        "not-an-email",
        "a@",
        "@example.com",
        "a@localhost",
        "a b@example.com",
        "x" * 300 + "@example.com",
        "ada\x00@example.com",
    ],
)
def test_malformed_email_is_a_400_naming_the_field(admin_client, email):
    page = admin_client.post(FIND, {"email": email})
    assert page.status_code == 400
    assert "E-mail address:" in page.text


@pytest.mark.django_db
def test_a_stored_address_django_would_not_validate_is_still_found_and_erased(admin_client):
    """Imports and integrations stored such addresses: their person must not be unreachable."""
    lead = LeadFactory(email="zoe.garcía.2@northanalytics.example")
    page = admin_client.post(FIND, {"email": "Zoe.García.2@northanalytics.example"})
    assert [h.lead.pk for h in page.context["subject"].held] == [lead.pk]
    erased = _erase(admin_client, [lead.pk], lead.email, email=lead.email)
    assert erased.status_code == 200
    assert Lead.objects.get(pk=lead.pk).erased_at is not None


@pytest.mark.django_db
def test_unknown_person_has_nothing_held(admin_client, ada):
    page = admin_client.post(FIND, {"email": "nobody@example.com"})
    assert page.status_code == 200
    assert "Nothing is held about nobody@example.com" in page.text
    assert 'id="erase-form"' not in page.text


# --- export ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_export_downloads_the_api_export_and_is_audited_with_the_subject_hash(
    admin_client, admin_user, ada
):
    response = admin_client.post(EXPORT, {"email": EMAIL, "lead": ada.pk})
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="lead-{ada.pk}-personal-data.json"'
    )
    page_data = json.loads(response.content)
    api = APIClient()
    api.force_authenticate(admin_user)
    api_data = api.get(f"/api/v1/privacy/leads/{ada.pk}/export/").json()
    page_data.pop("exported_at"), api_data.pop("exported_at")
    assert page_data == api_data  # the same service, the same content
    assert page_data["lead"]["email"] == EMAIL.lower()
    audits = list(AuditEvent.objects.filter(action="lead.export").order_by("id"))
    assert len(audits) == 2  # the page's and the API's
    assert audits[0].actor == admin_user
    assert audits[0].target_id == str(ada.pk)
    assert audits[0].details["subject_hash"] == subject_hash(EMAIL)
    assert EMAIL.lower() not in json.dumps(audits[0].details).lower()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {"email": EMAIL},
        {"email": EMAIL, "lead": "abc"},
        {"email": EMAIL, "lead": "99999999999999999999999"},
        {"email": "bad", "lead": "1"},
    ],
)
def test_export_bad_input_is_a_400(admin_client, ada, data):
    assert admin_client.post(EXPORT, data).status_code == 400
    assert not AuditEvent.objects.filter(action="lead.export").exists()


@pytest.mark.django_db
def test_export_of_a_lead_the_email_does_not_name_is_404(admin_client, ada):
    other = LeadFactory()
    assert admin_client.post(EXPORT, {"email": EMAIL, "lead": other.pk}).status_code == 404
    assert admin_client.get(EXPORT).status_code == 405


# --- erase -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_erase_with_the_typed_email_erases_blocks_and_audits(admin_client, admin_user, ada):
    page = _erase(admin_client, [ada.pk], confirm=" ada.LOVELACE@analytical.example ")
    assert page.status_code == 200
    ada.refresh_from_db()
    assert ada.erased_at is not None
    assert (ada.email, ada.first_name) == (None, "")
    assert not Note.objects.filter(lead=ada).exists()
    assert Activity.objects.filter(lead=ada).count() == 2
    audit = AuditEvent.objects.get(action="lead.erase")
    assert (audit.actor, audit.target_id) == (admin_user, str(ada.pk))
    assert audit.details["subject_hash"] == subject_hash(EMAIL)
    assert audit.details["rows"]["notes"] == 1
    assert audit.details["reason"] == "Art. 17 request"
    # the page shows what it did, and the blocklist
    assert "Erased" in page.text
    assert 'id="blocked"' in page.text
    assert 'id="nothing-held"' in page.text
    assert f"?lead={ada.pk}" in page.text  # link to the audit entry
    # blocklist effect: the person cannot be created again
    assert BlockedIdentifier.objects.filter(kind="email").exists()
    with pytest.raises(BlockedIdentifierError):
        lead_create(data={"email": EMAIL.upper()})
    # nothing left to erase: refused with a clear message
    again = _erase(admin_client, [ada.pk], confirm=EMAIL)
    assert again.status_code == 409
    assert f"Nothing is held about {EMAIL.lower()}" in again.text
    assert AuditEvent.objects.filter(action="lead.erase").count() == 1


@pytest.mark.django_db
def test_erase_covers_leads_matched_by_identity(admin_client, ada):
    other = LeadFactory(email="ada@home.example")
    Identity.objects.create(lead=other, kind="user_id", value=EMAIL.lower())
    assert _erase(admin_client, [ada.pk, other.pk], confirm=EMAIL).status_code == 200
    assert Lead.objects.filter(pk__in=[ada.pk, other.pk], erased_at__isnull=False).count() == 2
    hashes = set(
        AuditEvent.objects.filter(action="lead.erase").values_list(
            "details__subject_hash", flat=True
        )
    )
    assert hashes == {subject_hash(EMAIL)}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("confirm", "message"),
    [
        ("", "Confirmation: This field is required."),
        ("   ", "Confirmation: This field is required."),
        ("ERASE", "This is not ada.lovelace@analytical.example"),
        ("ada.lovelace@analytical.example.org", "Nothing was erased."),
    ],
)
def test_empty_or_wrong_confirmation_erases_nothing(admin_client, ada, confirm, message):
    page = _erase(admin_client, [ada.pk], confirm=confirm)
    assert page.status_code == 400
    assert message in page.text
    ada.refresh_from_db()
    assert ada.erased_at is None
    assert ada.email == EMAIL.lower()
    assert not BlockedIdentifier.objects.exists()
    assert not AuditEvent.objects.filter(action="lead.erase").exists()
    assert 'id="erase-form"' in page.text  # the form is shown again, with the error


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {"email": "nope", "leads": "1", "confirm": "nope"},
        {"email": EMAIL, "leads": "", "confirm": EMAIL},
        {"email": EMAIL, "leads": "1,x", "confirm": EMAIL},
        {"email": EMAIL, "leads": "9" * 40, "confirm": EMAIL},
        {"email": EMAIL, "leads": "1", "confirm": EMAIL, "reason": "r" * 301},
        {},
    ],
)
def test_erase_bad_input_is_a_400_and_erases_nothing(admin_client, ada, data):
    assert admin_client.post(ERASE, data).status_code == 400
    assert Lead.objects.get(pk=ada.pk).erased_at is None
    assert not BlockedIdentifier.objects.exists()


@pytest.mark.django_db
def test_erase_refuses_when_what_is_held_changed_since_review(admin_client, ada):
    other = LeadFactory(email="ada@home.example")
    Identity.objects.create(lead=other, kind="user_id", value=EMAIL.lower())
    page = _erase(admin_client, [ada.pk], confirm=EMAIL)  # reviewed before `other` matched
    assert page.status_code == 409
    assert "changed since the page was shown" in page.text
    assert not Lead.objects.filter(erased_at__isnull=False).exists()
    assert not BlockedIdentifier.objects.exists()


@pytest.mark.django_db
def test_erase_of_a_person_with_nothing_held_is_refused(admin_client):
    page = _erase(admin_client, [1], confirm="ghost@example.com", email="ghost@example.com")
    assert page.status_code == 409
    assert "Nothing is held about ghost@example.com: there is nothing to erase." in page.text
    assert not BlockedIdentifier.objects.exists()
    assert not AuditEvent.objects.filter(action="lead.erase").exists()


@pytest.mark.django_db
def test_erase_is_all_or_nothing(admin_client, ada, monkeypatch):
    """A failure erasing the second lead leaves the first one untouched (one transaction)."""
    from privacy import gdpr

    other = LeadFactory(email="ada@home.example")
    Identity.objects.create(lead=other, kind="user_id", value=EMAIL.lower())
    real = gdpr.lead_erase

    def failing(**kwargs):
        if kwargs["lead_id"] == max(ada.pk, other.pk):
            raise BlockedIdentifierError("simulated failure", field="email")
        return real(**kwargs)

    monkeypatch.setattr(gdpr, "lead_erase", failing)
    page = _erase(admin_client, [ada.pk, other.pk], confirm=EMAIL)
    assert page.status_code == 409
    assert not Lead.objects.filter(erased_at__isnull=False).exists()
    assert not BlockedIdentifier.objects.exists()
    assert not ConsentEvent.objects.filter(source="[erased]").exists()

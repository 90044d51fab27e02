"""Every privacy admin page renders; admins read the audit log of privacy actions there."""

import pytest
from django.contrib import admin

from leadflow.models import AuditEvent
from privacy.gdpr import lead_export
from privacy.merge import duplicates_scan, lead_merge
from tests.leads.factories import LeadFactory, UserFactory
from tests.privacy.test_import import MAPPING, messy_file


@pytest.mark.django_db
def test_privacy_admin_pages_and_audit_log_render(client, run_import, admin_user):
    job = run_import(messy_file(20), mapping=MAPPING)
    a = LeadFactory(email="k@acme.example")
    b = LeadFactory(email="k+1@acme.example")
    duplicates_scan()
    lead_merge(survivor_id=a.pk, duplicate_id=b.pk, actor=admin_user)
    lead_export(lead_id=a.pk, actor=admin_user)
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    models = [m for m in admin.site._registry if m._meta.app_label == "privacy"]
    assert len(models) == 6
    for model in models:
        base = f"/admin/privacy/{model._meta.model_name}/"
        assert client.get(base).status_code == 200, base
    assert client.get(f"/admin/privacy/importjob/{job.pk}/change/").status_code == 200
    log = client.get("/admin/leadflow/auditevent/")
    assert log.status_code == 200
    for action in (b"import.run", b"lead.merge", b"lead.export"):
        assert action in log.content
    assert AuditEvent.objects.filter(action__in=["import.create", "import.run"]).count() == 2

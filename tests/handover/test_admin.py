"""Every handover admin page renders (changelists and the add forms of configuration rows)."""

import pytest
from django.contrib import admin

from handover.models import Delivery, Handover, SlaTimer
from tests.handover.factories import policy, rule
from tests.leads.factories import UserFactory


@pytest.mark.django_db
def test_handover_admin_pages_render(client, reps, team, make_mql):
    rule("rr", team=team, members=reps[:1])
    policy()
    make_mql()
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    models = [m for m in admin.site._registry if m._meta.app_label == "handover"]
    assert len(models) >= 14  # (assignment members, attempts, SLA events: inlines)
    for model in models:
        base = f"/admin/handover/{model._meta.model_name}/"
        assert client.get(base).status_code == 200, base
        add = client.get(f"{base}add/")
        assert add.status_code in (200, 403), base
    for model in (Handover, SlaTimer):
        obj = model.objects.first()
        assert (
            client.get(f"/admin/handover/{model._meta.model_name}/{obj.pk}/change/").status_code
            == 200
        )
    assert Delivery.objects.exists()

import pytest
from django.db import transaction
from django.test import RequestFactory

from leadflow.audit import audit_record
from leadflow.models import AuditEvent
from tests.leads.factories import UserFactory


@pytest.mark.django_db
def test_audit_row_names_actor_target_and_origin():
    user = UserFactory(username="ada")
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1")
    request.user = user
    event = audit_record(action="lead.export", target_type="lead", target_id=42, request=request)
    event.refresh_from_db()
    assert (event.actor, event.actor_label, event.target_id) == (user, "ada", "42")
    # X-Forwarded-For is the sender's word: ignored unless proxies are configured
    assert event.ip_address == "127.0.0.1"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "203.0.113.9, 10.0.0.1", "10.0.0.1"),  # the address our one proxy saw
        (2, "203.0.113.9, 10.0.0.1", "203.0.113.9"),
        (2, "10.0.0.1", "10.0.0.1"),  # fewer hops than proxies: the farthest one
        (1, "not-an-address", "127.0.0.1"),  # never stored: the peer instead
        (1, "", "127.0.0.1"),
    ],
)
@pytest.mark.django_db
def test_audit_ip_trusts_only_the_configured_proxies(settings, proxies, forwarded, expected):
    settings.LEADFLOW_TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded)
    request.user = UserFactory(username="ada")
    event = audit_record(action="lead.export", request=request)
    event.refresh_from_db()
    assert event.ip_address == expected


@pytest.mark.django_db(transaction=True)
def test_audit_row_rolls_back_with_the_action():
    def erase_that_fails() -> None:
        with transaction.atomic():
            audit_record(action="lead.erase", target_type="lead", target_id=1)
            raise RuntimeError("the erasure failed")

    with pytest.raises(RuntimeError):
        erase_that_fails()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_role_and_admin_flag_changes_are_audited():
    from django.contrib.auth.models import Group

    from leadflow.roles import Role

    user = UserFactory(username="bob")
    reps = Group.objects.get(name=Role.SALES_REP)
    user.groups.add(reps)
    user.groups.remove(reps)
    user.is_staff = True
    user.save()
    events = list(AuditEvent.objects.filter(target_id=str(user.pk)).order_by("id"))
    assert [(e.action, e.details) for e in events] == [
        ("user.roles_changed", {"user": "bob", "added": ["sales_rep"]}),
        ("user.roles_changed", {"user": "bob", "removed": ["sales_rep"]}),
        ("user.flags_changed", {"user": "bob", "is_staff": True}),
    ]

"""Login throttling: failed log-ins lock a user name and an address (django-axes, leadflow/lockout.py).

The policy under test is the default one: 5 failures -> locked for 15 minutes after the last.
axes is imported inside the tests so this file also runs (and fails) on code without it.
"""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from leadflow.models import AuditEvent
from tests.leads.factories import UserFactory

PASSWORD = "the-right-password-42"  # noqa: S105
LIMIT = 5


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", password=PASSWORD)


def _login(client, username, password, ip="192.0.2.10", **extra):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        **extra,
    )


def _fail(client, username, times, ip="192.0.2.10", **extra):
    return [_login(client, username, "wrong", ip=ip, **extra).status_code for _ in range(times)]


def _shift_attempts_back(delta: timedelta) -> None:
    """As if the failures had happened ``delta`` earlier (no clock mocking needed)."""
    from axes.models import AccessAttempt

    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - delta
        )


def test_failures_up_to_the_limit_lock_the_account_with_429_and_retry_after(client, alice):
    assert _fail(client, "alice", LIMIT - 1) == [200] * (LIMIT - 1)  # the form, with its error
    locked = _login(client, "alice", "wrong")
    assert locked.status_code == 429
    assert 14 * 60 < int(locked["Retry-After"]) <= 15 * 60
    page = locked.content.decode()
    assert "failed log-ins for the user name <strong>alice</strong>" in page
    assert "Try again in 15 minutes" in page

    # the right password is refused while locked, and does not get the user in
    right = _login(client, "alice", PASSWORD)
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_retry_after_counts_down_and_the_lock_ends_after_the_cool_off(client, alice):
    _fail(client, "alice", LIMIT)
    _shift_attempts_back(timedelta(minutes=10))
    still = _login(client, "alice", PASSWORD)
    assert still.status_code == 429
    assert 4 * 60 < int(still["Retry-After"]) <= 5 * 60  # refused tries did not prolong it
    assert "Try again in 5 minutes" in still.content.decode()

    _shift_attempts_back(timedelta(minutes=5, seconds=1))
    assert _login(client, "alice", PASSWORD).status_code == 302


def test_an_address_is_locked_across_user_names(client, db):
    for name in ("u1", "u2", "u3", "u4", "u5", "u6"):
        UserFactory(username=name, password=PASSWORD)
    codes = [_login(client, f"u{i}", "wrong").status_code for i in range(1, LIMIT + 1)]
    assert codes == [200] * (LIMIT - 1) + [429]
    blocked = _login(client, "u6", PASSWORD)  # a user with no failures of its own
    assert blocked.status_code == 429
    assert "from your network address" in blocked.content.decode()
    # the same user from another address is let in
    assert _login(client, "u6", PASSWORD, ip="198.51.100.7").status_code == 302


def test_a_user_name_is_locked_across_addresses(client, alice):
    codes = [_login(client, "alice", "wrong", ip=f"203.0.113.{i}").status_code for i in range(5)]
    assert codes == [200] * (LIMIT - 1) + [429]
    assert _login(client, "alice", PASSWORD, ip="198.51.100.99").status_code == 429


def test_x_forwarded_for_is_ignored_unless_proxies_are_configured(client, alice, settings):
    # A client rotating the header still hits its peer address's counter.
    codes = [
        _login(client, f"nobody{i}", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}").status_code
        for i in range(LIMIT)
    ]
    assert codes[-1] == 429
    # Behind one trusted proxy, the address that proxy appended is the client.
    settings.LEADFLOW_TRUSTED_PROXY_COUNT = 1
    via_proxy = _login(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.20")
    assert via_proxy.status_code == 302


def test_lockout_writes_one_audit_row_and_unlock_another(client, alice):
    from leadflow.lockout import login_unlock

    _fail(client, "alice", LIMIT + 3)  # three more refused while locked: still one lockout
    lockouts = list(AuditEvent.objects.filter(action="auth.lockout"))
    assert len(lockouts) == 1
    row = lockouts[0]
    assert (row.target_type, row.target_id, row.ip_address) == ("user", str(alice.pk), "192.0.2.10")
    assert row.details["username"] == "alice"
    assert row.details["failures"] == LIMIT
    assert row.details["by_username"] is True
    assert row.details["until"]

    admin = UserFactory(username="root")
    assert login_unlock(actor=admin, username="alice") == 1
    unlock = AuditEvent.objects.get(action="auth.unlock")
    assert (unlock.actor, unlock.target_id) == (admin, str(alice.pk))
    assert unlock.details["forgotten"] == [
        {"username": "alice", "ip_address": "192.0.2.10", "failures": LIMIT}
    ]
    assert _login(client, "alice", PASSWORD).status_code == 302
    # nothing left to unlock: no audit row claiming an unlock
    assert login_unlock(actor=admin, username="alice") == 0
    assert AuditEvent.objects.filter(action="auth.unlock").count() == 1


def test_superuser_unlocks_a_user_from_the_admin(client, alice):
    _fail(client, "alice", LIMIT)
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    admin_client = type(client)()
    admin_client.force_login(root)
    response = admin_client.post(
        reverse("admin:leadflow_user_changelist"),
        {"action": "unlock_login", "_selected_action": [alice.pk]},
        follow=True,
    )
    assert "Unlocked alice" in response.content.decode()
    assert AuditEvent.objects.get(action="auth.unlock").actor == root
    assert _login(client, "alice", PASSWORD).status_code == 302


def test_deleting_attempt_rows_in_the_admin_unlocks_and_is_audited(client, alice):
    from axes.models import AccessAttempt

    _fail(client, "alice", LIMIT)
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    admin_client = type(client)()
    admin_client.force_login(root)
    ids = list(AccessAttempt.objects.values_list("pk", flat=True))
    admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert not AccessAttempt.objects.exists()
    assert AuditEvent.objects.get(action="auth.unlock").details["rows"] == 1
    assert _login(client, "alice", PASSWORD).status_code == 302


def test_unlock_command_is_audited(client, alice, capsys):
    _fail(client, "alice", LIMIT)
    call_command("login_unlock", username="alice")
    assert "Forgot 1 failed log-in row" in capsys.readouterr().out
    assert AuditEvent.objects.get(action="auth.unlock").actor is None
    assert _login(client, "alice", PASSWORD).status_code == 302


def test_admin_login_is_throttled_too(client, db):
    UserFactory(username="root", password=PASSWORD, is_staff=True, is_superuser=True)
    url = reverse("admin:login")
    codes = [
        client.post(url, {"username": "root", "password": "wrong"}).status_code
        for _ in range(LIMIT)
    ]
    assert codes[-1] == 429
    assert client.post(url, {"username": "root", "password": PASSWORD}).status_code == 429


def test_api_key_and_session_api_work_with_the_lockout_backend(client, db, make_api_key):
    from rest_framework.test import APIClient

    from leadflow.roles import Role

    secret, _ = make_api_key("leads:read")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/leads/").status_code == 200
    # a real password log-in, then the API on its session
    UserFactory(username="mara", password=PASSWORD, role=Role.MARKETER)
    assert _login(client, "mara", PASSWORD).status_code == 302
    assert client.get("/api/v1/leads/").status_code == 200


def test_retry_after_is_when_enough_old_failures_have_expired(client, db):
    """A lock over several rows ends when the oldest rows leave the window, not the newest."""
    UserFactory(username="u6", password=PASSWORD)
    _login(client, "u1", "wrong")
    _shift_attempts_back(timedelta(minutes=12))
    codes = [_login(client, f"u{i}", "wrong").status_code for i in range(2, LIMIT + 1)]
    assert codes[-1] == 429
    # u1's failure leaves the 15-minute window in 3 minutes; then only 4 remain
    assert 2 * 60 < int(_login(client, "u6", PASSWORD)["Retry-After"]) <= 3 * 60
    _shift_attempts_back(timedelta(minutes=3, seconds=1))
    assert _login(client, "u6", PASSWORD).status_code == 302

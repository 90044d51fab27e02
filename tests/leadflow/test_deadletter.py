"""The dead-letter rule itself: bisection, backoff, giving up, the admin's retry."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from leadflow import deadletter
from leadflow.models import AuditEvent, DeadLetter, User, WorkerHeartbeat

pytestmark = pytest.mark.django_db

KIND = "test.item"


@pytest.fixture
def broken(monkeypatch):
    """A kind whose retry fails while ``broken["items"]`` holds the item."""
    state = {"items": set()}

    def retry(item_id):
        if item_id in state["items"]:
            raise ValueError(f"item {item_id} is still broken")
        WorkerHeartbeat.objects.create(name=f"item-{item_id}", seen_at=timezone.now())

    monkeypatch.setitem(deadletter._KINDS, KIND, deadletter.Kind("Test item", retry))
    return state


def _work(bad):
    def work(ids):
        for i in ids:
            WorkerHeartbeat.objects.create(name=f"item-{i}", seen_at=timezone.now())
            if i in bad:
                raise ValueError(f"item {i} is bad")
        return len(ids)

    return work


def _written():
    return sorted(
        int(n.split("-")[1]) for n in WorkerHeartbeat.objects.values_list("name", flat=True)
    )


def test_the_happy_path_is_one_call_and_a_failing_batch_is_bisected_to_its_bad_items():
    assert deadletter.isolate([1, 2, 3], _work(set()), kind=KIND) == [3]
    WorkerHeartbeat.objects.all().delete()
    done = deadletter.isolate(list(range(1, 11)), _work({4, 7}), kind=KIND)
    assert sum(done) == 8
    assert _written() == [1, 2, 3, 5, 6, 8, 9, 10]  # the bad items' writes rolled back
    letters = dict(DeadLetter.objects.values_list("item_id", "error"))
    assert letters == {4: "ValueError: item 4 is bad", 7: "ValueError: item 7 is bad"}


def test_a_transient_error_is_not_an_items_fault_and_fails_the_batch():
    def locked(ids):
        raise OperationalError("database is locked")

    with pytest.raises(OperationalError):
        deadletter.isolate([1, 2, 3], locked, kind=KIND)
    assert not DeadLetter.objects.exists()


def test_retries_back_off_then_give_up_and_stay_until_retried_by_hand(broken, settings):
    settings.DEADLETTER_RETRY_BASE_SECONDS = 60
    settings.DEADLETTER_RETRY_MAX_SECONDS = 200
    settings.DEADLETTER_MAX_ATTEMPTS = 3
    broken["items"].add(5)
    deadletter.isolate([5], _work({5}), kind=KIND)
    letter = DeadLetter.objects.get()
    waits = [letter.next_retry_at - letter.failed_at]
    assert deadletter.retry_due(now=letter.next_retry_at - timedelta(seconds=1)) == (0, 0)
    for _ in range(3):
        assert deadletter.retry_due(now=letter.next_retry_at) == (0, 1)
        letter.refresh_from_db()
        if letter.next_retry_at:
            waits.append(letter.next_retry_at - letter.failed_at)
    assert [w.total_seconds() // 1 for w in waits] == [60, 120, 200]  # 60 × 2ⁿ, capped
    assert (letter.status, letter.attempts, letter.next_retry_at) == ("gave_up", 3, None)
    assert "item 5 is still broken" in letter.error
    assert deadletter.retry_due(now=timezone.now() + timedelta(days=30)) == (0, 0)
    broken["items"].clear()
    assert deadletter.retry(letter_id=letter.pk, manual=True) is True
    assert not DeadLetter.objects.exists()
    assert _written() == [5]


def test_admin_lists_dead_letters_and_retries_them(broken, client):
    broken["items"].add(2)
    deadletter.isolate([1, 2, 3], _work({1, 2}), kind=KIND)  # 1 and 2 set aside
    admin_user = User.objects.create_superuser("boss", "boss@example.test", "pw")
    client.force_login(admin_user)
    page = client.get("/admin/leadflow/deadletter/")
    assert page.status_code == 200
    assert page.content.decode().count("Test item") >= 2
    assert "ValueError: item 2 is bad" in page.content.decode()
    response = client.post(
        "/admin/leadflow/deadletter/",
        {
            "action": "retry_now",
            "_selected_action": list(DeadLetter.objects.values_list("pk", flat=True)),
        },
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["1 went through (removed from the list); 1 failed again (see the error)."]
    left = DeadLetter.objects.get()
    assert (left.item_id, left.attempts, left.error) == (2, 1, "ValueError: item 2 is still broken")
    assert AuditEvent.objects.filter(action="deadletter.retry").count() == 2

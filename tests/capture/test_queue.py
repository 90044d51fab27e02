"""A submission is one received row while the visitor waits; a worker makes it a lead. A lost
task is re-driven by the sweeper, and one that cannot be stored is kept as failed with its
reason, without holding up the others."""

import pytest

from capture.models import Submission
from capture.submit import submissions_sweep
from leads.models import Lead
from privacy import blocklist
from tests.capture.factories import make_form, solved_challenge

pytestmark = pytest.mark.django_db


def _post_without_worker(form, email, monkeypatch, client):
    """The visitor's post, with the task lost (a killed worker, a Redis restart)."""
    monkeypatch.setattr("capture.submit._enqueue", lambda submission_id: None)
    data = {"email": email, **solved_challenge(form)}
    return client.submit(form, data)


def test_the_reply_needs_only_the_received_row(visitor, monkeypatch):
    form = make_form()
    reply = _post_without_worker(form, "later@example.com", monkeypatch, visitor)
    assert reply.status_code == 200
    assert reply.json()["status"] == "accepted"
    assert Submission.objects.get().status == Submission.Status.RECEIVED
    assert not Lead.objects.exists()


def test_the_sweeper_finishes_received_submissions_whose_task_was_lost(visitor, monkeypatch):
    form = make_form()
    _post_without_worker(form, "lost@example.com", monkeypatch, visitor)
    assert submissions_sweep(older_than_seconds=60) == 0  # too young: its task may still come
    assert submissions_sweep(older_than_seconds=0) == 1
    submission = Submission.objects.get()
    assert submission.status == Submission.Status.ACCEPTED
    assert submission.lead == Lead.objects.get(email="lost@example.com")
    assert submissions_sweep(older_than_seconds=0) == 0  # done once


def test_a_submission_that_cannot_be_stored_fails_with_its_reason_and_the_rest_go_on(
    visitor, monkeypatch
):
    form = make_form()
    blocklist.block({"email": "erased@example.com"})  # a person who asked to be erased
    for email in ("before@example.com", "erased@example.com", "after@example.com"):
        _post_without_worker(form, email, monkeypatch, visitor)
    assert submissions_sweep(older_than_seconds=0) == 3
    by_email = {s.answers["email"]: s for s in Submission.objects.all()}
    failed = by_email["erased@example.com"]
    assert failed.status == Submission.Status.FAILED
    assert "email" in failed.error
    assert failed.lead is None
    assert by_email["before@example.com"].status == Submission.Status.ACCEPTED
    assert by_email["after@example.com"].status == Submission.Status.ACCEPTED
    assert set(Lead.objects.values_list("email", flat=True)) == {
        "before@example.com",
        "after@example.com",
    }

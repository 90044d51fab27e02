"""Parallel first submissions of one new e-mail, each on its own connection (a live server)."""

import threading

import pytest
import requests
from django.db import close_old_connections, connection

from capture.models import Submission
from leads.models import Activity, ActivityKind, Lead
from tests.capture.factories import make_form, solved_challenge

PARALLEL = 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_first_submissions_make_one_lead_and_every_submission(live_server):
    form = make_form(origins=["https://shop.example"])
    bodies = [
        {"email": "race@example.com", "firstName": f"Racer{i}", **solved_challenge(form)}
        for i in range(PARALLEL)
    ]
    barrier = threading.Barrier(PARALLEL)
    replies: list[requests.Response] = []

    def send(body):
        try:
            barrier.wait()
            replies.append(
                requests.post(
                    f"{live_server.url}/f/{form.public_id}/submit",
                    json=body,
                    headers={"Origin": "https://shop.example"},
                    timeout=60,
                )
            )
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(r.status_code for r in replies) == [200] * PARALLEL, [
        (r.status_code, r.text[:300]) for r in replies
    ]
    lead = Lead.objects.get(email="race@example.com")  # exactly one lead
    submissions = list(Submission.objects.filter(form=form))
    assert len(submissions) == PARALLEL
    assert [(s.status, s.error) for s in submissions if s.lead_id is None] == []
    assert {s.lead_id for s in submissions} == {lead.pk}
    assert sum(s.created_lead for s in submissions) == 1
    winner = next(s for s in submissions if s.created_lead)
    assert lead.first_name == winner.answers["firstName"]  # the first one's answers
    for s in submissions:  # the others: their differing name is proposed, not applied
        if not s.created_lead:
            assert s.proposed_changes == {
                "firstName": {"current": lead.first_name, "proposed": s.answers["firstName"]}
            }
    assert Activity.objects.filter(lead=lead, kind=ActivityKind.FORM_SUBMIT).count() == PARALLEL

"""The reports rebuild is a job: progress per lead-id range, a failure names where it stopped,
``--resume`` continues at the next range, ``--cancel`` stops it."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leads.services import lead_create
from reports import services
from reports.models import LeadMilestone

pytestmark = pytest.mark.django_db


def test_a_failed_rebuild_says_where_and_resumes_at_the_next_range(marketer, monkeypatch):
    leads = [lead_create(data={"email": f"r{i}@x.example"}, actor=marketer) for i in range(4)]
    span = leads[-1].pk - leads[0].pk + 1
    real, calls = services._rebuild_range, {"n": 0}

    def broken(start, stop):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(start, stop)

    from reports.models import RebuildRun  # (a name of this work: failing tests fail below)

    monkeypatch.setattr(services, "_rebuild_range", broken)
    LeadMilestone.objects.all().delete()
    with pytest.raises(CommandError, match=r"failed after 2 of \d+ lead ids.*--resume"):
        call_command("reports_rebuild", batch=1, stdout=StringIO())
    run = RebuildRun.objects.get()
    assert (run.status, run.done, run.total) == ("failed", 2, span)
    assert "disk full" in run.error
    assert LeadMilestone.objects.count() == 2  # the committed ranges stay
    out = StringIO()
    call_command("reports_rebuild", resume=run.pk, stdout=out)
    run.refresh_from_db()
    assert (run.status, run.done, run.total, run.percent) == ("done", span, span, 100)
    assert LeadMilestone.objects.count() == 4
    assert calls["n"] == 2 + 1 + (span - 2)  # resumed at range 3, not from the start


def test_cancel_a_queued_rebuild_and_refuse_to_resume_a_done_one(marketer):
    lead_create(data={"email": "c@x.example"}, actor=marketer)
    call_command("reports_rebuild", stdout=StringIO())  # the plain command still works
    run = services.reports_rebuild_start(batch=10)
    call_command("reports_rebuild", cancel=run.pk, stdout=StringIO())
    run.refresh_from_db()
    assert run.status == "cancelled"
    call_command("reports_rebuild", resume=run.pk, stdout=StringIO())
    run.refresh_from_db()
    assert (run.status, run.rows) == ("done", 1)
    with pytest.raises(CommandError, match="only a failed or cancelled job"):
        call_command("reports_rebuild", resume=run.pk, stdout=StringIO())

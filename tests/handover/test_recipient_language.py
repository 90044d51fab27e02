"""Notifications and e-mails are written in their recipient's language and time zone (issue 21),
whoever caused them: here a marketer working in English hands a lead to a rep in Prague who
reads Czech, and the rep's manager in Copenhagen reads Danish."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import formats, translation
from django.utils.translation import gettext

from handover.models import Notification
from leadflow.models import User
from leads.lifecycle import Stage
from leads.services import lead_move
from tests.handover.factories import policy, rule
from tests.leads.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db


def _in(language: str, message: str) -> str:
    with translation.override(language):
        return gettext(message)


def test_the_handover_email_and_notification_are_in_the_reps_czech(
    reps, team, marketer, settings, django_capture_on_commit_callbacks
):
    settings.TIME_ZONE = "UTC"
    rep = reps[0]
    User.objects.filter(pk=rep.pk).update(language="cs", time_zone="Europe/Prague")
    rule("rr", team=team, members=[rep])
    policy(stage="mql", target=480, warn=60)
    lead = LeadFactory(stage=Stage.LEAD, first_name="Zq", last_name="Vzk")
    ActivityFactory(lead=lead, name="Zq", occurred_at=datetime(2026, 12, 4, 23, 30, tzinfo=UTC))
    with django_capture_on_commit_callbacks(execute=True):
        lead_move(lead_id=lead.pk, to="mql", actor=marketer, source="ui")

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    html = message.alternatives[0][0]
    assert 'lang="cs"' in html
    for english in ("Why now:", "Last activities:", "Open it:"):
        czech = _in("cs", english)
        assert czech != english
        assert czech in message.body
        assert english not in message.body, english
    # the activity at 23:30 UTC is 00:30 on 5 December in Prague, with Czech day and month names
    with translation.override("cs"):
        local = datetime(2026, 12, 5, 0, 30, tzinfo=ZoneInfo("Europe/Prague"))
        line = formats.date_format(local, "D d M H:i")
    assert f"  - {line}  " in message.body
    assert "Sat 05 Dec" not in message.body

    notification = Notification.objects.get(recipient=rep, kind="handover.assigned")
    expected = _in("cs", "New MQL to accept: %(name)s") % {"name": lead.display_name}
    assert notification.title == expected != f"New MQL to accept: {lead.display_name}"

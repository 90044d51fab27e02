"""Double opt-in: a submission's consent counts only after the visitor clicks the e-mailed link.

The link carries a signed token (``django.core.signing``, its own salt, valid 7 days) naming
the submission; nothing is stored for it. Opening the link (GET) only shows a button: mail
scanners prefetch links, and a prefetch must not confirm anything. The button's POST confirms:
the consent records get ``confirmed_at``, privacy's ConsentEvents are recorded (channel consents),
the submission becomes confirmed. A second click finds it confirmed and changes nothing.

The click proves the visitor reads that mailbox, which a public form alone does not: only now
is the visitor's anonymous id (their earlier page views) linked to a lead that was already
known by that e-mail (``leads.writepolicy`` keeps a public form from doing it at submission).
"""

import logging
from enum import StrEnum

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from capture.models import ConsentRecord, Submission
from leads.ingest import IDENTIFY, Message, ingest
from leads.writepolicy import SERVER
from privacy.services import consent_record

log = logging.getLogger(__name__)

SALT = "capture.doi"
MAX_AGE = 7 * 24 * 3600


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY = "already"
    INVALID_LINK = "invalid_link"  # not ours, tampered with, or expired
    GONE = "gone"  # the submission was deleted (e.g. the person erased)


def confirmation_token(submission_id: int) -> str:
    return str(signing.dumps({"s": submission_id}, salt=SALT, compress=False))


def token_submission_id(token: str) -> int | None:
    """The submission a token names; None when the token is bad or older than 7 days."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):  # SignatureExpired is a BadSignature
        return None
    value = data.get("s") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def confirmation_url(submission_id: int) -> str:
    path = reverse("capture_public:confirm", args=[confirmation_token(submission_id)])
    return str(settings.SITE_URL).rstrip("/") + path


def confirmation_send(*, submission_id: int, language: str = "") -> None:
    """Send the confirmation e-mail (after the submission committed), in the visitor's
    language. A failed send is logged: the submission stays pending and the visitor can
    submit again."""
    submission = Submission.objects.select_related("form", "lead").filter(pk=submission_id).first()
    if submission is None or submission.lead is None or not submission.lead.email:
        return
    form = submission.form
    with translation.override(language or settings.LANGUAGE_CODE):
        context = {"form": form, "url": confirmation_url(submission_id), "days": MAX_AGE // 86400}
        subject = _("Please confirm: %(form)s") % {"form": form.name}
        body = render_to_string("capture/public/confirm_email.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [submission.lead.email])
    except Exception:  # SMTP down: the visitor sees "check your inbox" but gets nothing
        log.exception("capture: confirmation e-mail for submission %s not sent", submission_id)


def submission_confirm(*, token: str) -> tuple[Outcome, Submission | None]:
    """The confirmation click (POST). Idempotent: the submission row is locked, and a
    confirmed one is left as it is."""
    submission_id = token_submission_id(token)
    if submission_id is None:
        return Outcome.INVALID_LINK, None
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update()
            .select_related("form")
            .filter(pk=submission_id)
            .first()
        )
        if submission is None or submission.lead_id is None:
            return Outcome.GONE, submission
        if submission.status != Submission.Status.PENDING:
            return Outcome.ALREADY, submission
        now = timezone.now()
        records = list(
            ConsentRecord.objects.filter(submission=submission).select_related("consent_text")
        )
        ConsentRecord.objects.filter(submission=submission).update(confirmed_at=now)
        for record in records:
            if record.consent_text.channel:
                consent_record(
                    lead_id=submission.lead_id,
                    channel=record.consent_text.channel,
                    granted=True,
                    source=f"web form: {submission.form.name} (double opt-in)",
                    at=now,
                )
        submission.status = Submission.Status.CONFIRMED
        submission.confirmed_at = now
        submission.save(update_fields=["status", "confirmed_at"])
        if submission.anonymous_id:  # the mailbox is proven: stitch the visitor's page views
            ingest(
                messages=[
                    Message(
                        index=0,
                        type=IDENTIFY,
                        message_id=f"lf-doi-{submission.pk}",
                        lead_id=submission.lead_id,
                        anonymous_id=submission.anonymous_id,
                        occurred_at=now,
                    )
                ],
                source="form",
                now=now,
                caller=SERVER,
            )
    return Outcome.CONFIRMED, submission

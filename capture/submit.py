"""A visitor's form submission → a lead, its form activity and its consent records.

``submission_validate`` checks the answers against the form (one error list per field name,
``consent.<key>`` for consents) while the visitor waits; ``submission_receive`` stores the
submission as one *received* row, and a worker's ``submission_process`` writes, in one
transaction and only through the leads services: an identify (the answers as traits) and the form activity go
through ``leads.ingest.ingest`` as a *public* caller (``leads.writepolicy``): a new person
becomes a lead with the answers, the visitor's earlier anonymous page views move to it (ingest
merges the anonymous visitor the anonymousId names), and the activity marks the lead for
rescoring. A person already known by e-mail is never changed by a public form: the answers that
differ from what the lead holds are recorded as ``proposed_changes`` (on the submission and in
the activity's properties, so the lead's timeline shows them) for a person to apply. Consent
ticked on the form is recorded (``ConsentRecord``, the exact text version) and, for a channel,
given in privacy (a ConsentEvent); except that a known person who withdrew that channel is not
signed up again by a form anyone could fill in with their address: that stays a proposed
change (``consent.<key>``) until they confirm by double opt-in.

With double opt-in, the submission waits (status pending, consent records unconfirmed, no
privacy ConsentEvent) until the visitor clicks the link in the confirmation e-mail
(``capture.doi``).
"""

import ipaddress
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from capture.models import (
    ConsentRecord,
    ConsentText,
    FieldKind,
    Form,
    HiddenSource,
    Rejection,
    Submission,
)
from capture.selectors import current_consents, lead_for_anonymous_id
from leadflow.client_ip import kept_ip
from leadflow.exceptions import DomainError
from leads.ingest import ACTIVITY, IDENTIFY, TRAIT_COLUMNS, Message, ingest
from leads.models import Lead
from leads.services import normalize_email
from leads.writepolicy import Caller
from privacy.models import Channel, ConsentEvent
from privacy.services import consent_record

PUBLIC = Caller(public=True)
MAX_LENGTH = {FieldKind.TEXTAREA: 5000, FieldKind.EMAIL: 254, FieldKind.TEL: 40}
MAX_HIDDEN_LENGTH = 2000
MAX_LENGTH_DEFAULT = 255
TICKED = frozenset({"on", "true", "1", "yes"})
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
PHONE_CHARS = frozenset("0123456789 +()-./")


class SubmissionInvalidError(Exception):
    """The answers do not fit the form: ``errors`` = {field name or consent.<key>: [messages]}."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass
class Cleaned:
    answers: dict[str, Any]
    consents: list[ConsentText]
    anonymous_id: str = ""
    page_url: str = ""
    referrer: str = ""
    # what the visitor sent that the form does not ask (left out of the lead, kept for nobody)
    unknown: list[str] = field(default_factory=list)


def _text(value: Any, limit: int) -> str:
    if isinstance(value, list):  # a form-encoded key sent twice: the last one
        value = value[-1] if value else ""
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()[:limit]


def _ticked(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str | int) and str(value).strip().lower() in TICKED


def submission_validate(form: Form, data: Mapping[str, Any]) -> Cleaned:
    """Check ``data`` (the decoded post) against the form's fields and current consents.
    Raises ``SubmissionInvalidError`` naming every field that is wrong, and why."""
    errors: dict[str, list[str]] = {}
    answers: dict[str, Any] = {}
    for f in form.fields.all():
        name = f.trait
        raw = data.get(name)
        if f.kind == FieldKind.CHECKBOX:
            ticked = _ticked(raw)
            if f.required and not ticked and (not f.progressive or name in data):
                errors[name] = [_("Please tick this box to continue.")]
            elif ticked or name in data:
                answers[name] = ticked
            continue
        if f.kind == FieldKind.HIDDEN and f.hidden_source == HiddenSource.FIXED:
            if f.fixed_value:
                answers[name] = f.fixed_value  # never what the browser says
            continue
        if isinstance(raw, dict | list) and not (isinstance(raw, list) and len(raw) == 1):
            errors[name] = [_("Send one value for this field.")]
            continue
        limit = (
            MAX_HIDDEN_LENGTH
            if f.kind == FieldKind.HIDDEN
            else MAX_LENGTH.get(FieldKind(f.kind), MAX_LENGTH_DEFAULT)
        )
        value = _text(raw, limit + 1)
        if not value:
            # a progressive field is required only when it was shown (sent, even empty)
            shown = not f.progressive or name in data
            if f.required and shown and f.kind != FieldKind.HIDDEN:
                errors[name] = [_("This field is required.")]
            continue
        if len(value) > limit:
            errors[name] = [
                _("Use at most %(limit)d characters (this has more).") % {"limit": limit}
            ]
            continue
        if f.kind == FieldKind.EMAIL:
            try:
                validate_email(value)
            except ValidationError:
                errors[name] = [_("Enter a valid e-mail address.")]
                continue
            value = normalize_email(value) or value
        elif f.kind == FieldKind.TEL and not set(value) <= PHONE_CHARS:
            errors[name] = [_("Enter a phone number (digits, spaces, + ( ) - . /).")]
            continue
        elif f.kind == FieldKind.SELECT and value not in f.choice_list():
            errors[name] = [_("Select one of the choices offered.")]
            continue
        answers[name] = value
    consents: list[ConsentText] = []
    for text in current_consents(form):
        key = f"consent.{text.key}"
        raw = data.get(key)
        if raw is True:  # the version is what makes the record provable: "true" says nothing
            errors[key] = [_("Send the version number of the consent text shown.")]
            continue
        sent = _text(raw, 20)
        if not sent or sent.lower() in ("false", "0", "off"):
            if text.required:
                errors[key] = [_("Please agree to this to continue.")]
            continue
        if sent != str(text.version):
            errors[key] = [
                _(
                    "This text has changed since the page was loaded. Please reload the page, "
                    "read it again and tick the box."
                )
            ]
            continue
        consents.append(text)
    if form.double_opt_in and "email" not in answers and "email" not in errors:
        errors["email"] = [_("An e-mail address is needed to send the confirmation link.")]
    if errors:
        raise SubmissionInvalidError(errors)
    anonymous_id = data.get("lf_anonymous_id")
    return Cleaned(
        answers=answers,
        consents=consents,
        anonymous_id=anonymous_id.strip()[:200] if isinstance(anonymous_id, str) else "",
        page_url=_text(data.get("lf_page"), 2000),
        referrer=_text(data.get("lf_referrer"), 2000),
    )


def stored_ip(ip: str | None, mode: str) -> str | None:
    """The visitor's IP address as the form keeps it (``Form.ip_storage``)."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return kept_ip(address, mode)


def _utm(page_url: str, answers: Mapping[str, Any]) -> dict[str, str]:
    """utm_* of the page the form was on (answers of hidden UTM fields win)."""
    try:
        query = dict(parse_qsl(urlsplit(page_url).query))
    except ValueError:
        query = {}
    utm = {}
    for key in UTM_KEYS:
        value = answers.get(key) or query.get(key)
        if isinstance(value, str) and value.strip():
            utm[key] = value.strip()[:200]
    return utm


def _source(utm: Mapping[str, str], referrer: str) -> str:
    if utm.get("utm_source"):
        return utm["utm_source"][:200]
    try:
        return (urlsplit(referrer).hostname or "")[:200]
    except ValueError:
        return ""


def held_value(lead: Lead, trait: str) -> Any:
    column = TRAIT_COLUMNS.get(trait)
    if column is not None:
        return getattr(lead, column)
    if trait == "company":
        return lead.company
    return (lead.traits or {}).get(trait)


def proposed_changes(lead: Lead, answers: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{trait: {"current": what the lead holds, "proposed": the answer}} for every answer that
    differs (an empty field the answer would fill included: a public form changes nothing)."""
    out: dict[str, dict[str, Any]] = {}
    for trait, answer in answers.items():
        if trait == "email":  # what the lead was found by
            continue
        current = held_value(lead, trait)
        current = "" if current is None else current
        if current != answer:
            out[trait] = {"current": current, "proposed": answer}
    return out


def withdrawn(lead: Lead, channel: str) -> bool:
    """Whether the person has withdrawn consent for ``channel`` (their latest word on it)."""
    if channel == Channel.EMAIL:
        return lead.email_opt_out
    if channel == Channel.PHONE:
        return lead.do_not_call
    latest = ConsentEvent.objects.filter(lead=lead, channel=channel).order_by("-at", "-id").first()
    return latest is not None and not latest.granted


def _ingest_errors(result_errors: list[Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in result_errors:
        name = (error.field or "").removeprefix("traits.") or "email"
        errors.setdefault(name, []).append(error.message)
    return errors


def _device_id(anonymous_id: str, email: str | None) -> str | None:
    """The anonymous id to tie to the submitter: the browser's, unless it already names an
    identified person other than the e-mail typed (a shared computer: someone new types their
    own address and must not land on the earlier person's lead); a fresh one when the form has
    no e-mail (the lead is then known by it alone)."""
    if not anonymous_id:
        return None if email else str(uuid.uuid4())
    if email:
        holder = lead_for_anonymous_id(anonymous_id)
        known = holder is not None and (holder.email or holder.external_id)
        if known and holder is not None and (holder.email or "").lower() != email:
            return None
    return anonymous_id


def submission_receive(
    *, form: Form, cleaned: Cleaned, ip: str | None = None, language: str = ""
) -> Submission:
    """Store a validated submission as *received* (one row) and hand it to a worker, which makes
    it a lead (``submission_process``). The visitor's reply needs nothing more: what the worker
    may still refuse (a blocked address, an answer a custom field's type rejects) is kept on the
    row as *failed* with its reason, for the marketer, never dropped. A lost task is re-driven
    by ``submissions_sweep``."""
    submission = Submission.objects.create(
        form=form,
        status=Submission.Status.RECEIVED,
        answers=cleaned.answers,
        page_url=cleaned.page_url,
        referrer=cleaned.referrer,
        anonymous_id=cleaned.anonymous_id,
        ip=stored_ip(ip, form.ip_storage),
        consent_text_ids=[text.pk for text in cleaned.consents],
        language=language[:20],
    )
    transaction.on_commit(partial(_enqueue, submission.pk))
    return submission


def _enqueue(submission_id: int) -> None:
    from capture.tasks import submission_process_task

    submission_process_task.delay(submission_id)


def submission_process(*, submission_id: int) -> Submission | None:
    """Make a received submission a lead (see the module docstring); None when another worker
    has it or it is done. Refusals leave it *failed* with the reason, nothing else written."""
    with transaction.atomic():
        submission = (
            # of=self: FOR UPDATE of the join would lock the form row and make every other
            # worker skip its own submission of that form
            Submission.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("form")
            .filter(pk=submission_id, status=Submission.Status.RECEIVED)
            .first()
        )
        if submission is None:
            return None
        try:
            with transaction.atomic():
                _process(submission)
        except (SubmissionInvalidError, DomainError) as exc:
            errors = (
                exc.errors
                if isinstance(exc, SubmissionInvalidError)
                else {exc.field or "email": [exc.message]}
            )
            submission.status = Submission.Status.FAILED
            submission.error = "; ".join(
                f"{name}: {' '.join(messages)}" for name, messages in errors.items()
            )
            submission.save(update_fields=["status", "error"])
    return submission


def _process(submission: Submission) -> None:
    form = submission.form
    now = submission.created_at
    answers = submission.answers
    texts = {t.pk: t for t in ConsentText.objects.filter(pk__in=submission.consent_text_ids)}
    consents = [texts[pk] for pk in submission.consent_text_ids if pk in texts]
    email = normalize_email(answers.get("email")) if isinstance(answers.get("email"), str) else None
    utm = _utm(submission.page_url, answers)
    traits = dict(answers)
    traits.setdefault("source", f"web form: {form.name}"[:100])  # a new lead's source (data)
    anonymous_id = _device_id(submission.anonymous_id, email)
    if email:
        existed = Lead.objects.filter(email__iexact=email).exists()
    else:
        existed = lead_for_anonymous_id(anonymous_id) is not None
    identify = Message(
        index=0,
        type=IDENTIFY,
        message_id=f"lf-form-{submission.pk}-identify",  # a re-run is a no-op (exactly once)
        anonymous_id=anonymous_id,
        email=email,
        occurred_at=now,
        traits=traits,
        utm=utm,
    )
    result = ingest(messages=[identify], source="form", now=now, caller=PUBLIC)
    if result.errors:
        raise SubmissionInvalidError(_ingest_errors(result.errors))
    lead_id = result.outcomes[0][1]
    ignored = any(item.index == 0 for item in result.ignored)
    lead = Lead.objects.get(pk=lead_id)
    changes = proposed_changes(lead, answers) if ignored else {}
    # a known person who withdrew a channel is not signed up again by an unverified form
    withheld = {
        text.key
        for text in consents
        if ignored and text.channel and not form.double_opt_in and withdrawn(lead, text.channel)
    }
    for key in sorted(withheld):
        changes[f"consent.{key}"] = {"current": "withdrawn", "proposed": "granted"}
    activity = Message(
        index=0,
        type=ACTIVITY,
        message_id=f"lf-form-{submission.pk}",
        lead_id=lead_id,
        kind=form.activity_kind,
        name=form.name,
        occurred_at=now,
        properties={
            "form": form.public_id,
            "form_name": form.name,
            "answers": answers,
            "page": submission.page_url,
            "proposed_changes": changes,
            # where the visitor came from: a touch of its own for attribution
            **({"referrer": submission.referrer} if submission.referrer else {}),
        },
    )
    result = ingest(messages=[activity], source="form", now=now, caller=PUBLIC)
    if result.errors:  # pragma: no cover  (an activity of a lead just resolved)
        raise SubmissionInvalidError(_ingest_errors(result.errors))
    pending = form.double_opt_in
    submission.lead_id = lead_id
    submission.status = Submission.Status.PENDING if pending else Submission.Status.ACCEPTED
    submission.created_lead = not existed and not ignored
    submission.proposed_changes = changes
    submission.source = _source(utm, submission.referrer)
    submission.anonymous_id = anonymous_id or ""
    submission.save(
        update_fields=[
            "lead",
            "status",
            "created_lead",
            "proposed_changes",
            "source",
            "anonymous_id",
        ]
    )
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            submission=submission,
            lead_id=lead_id,
            consent_text=text,
            granted=True,
            at=now,
            page_url=submission.page_url,
            ip=submission.ip,
        )
        for text in consents
    )
    if pending:
        from capture.doi import confirmation_send

        transaction.on_commit(
            partial(confirmation_send, submission_id=submission.pk, language=submission.language)
        )
        return
    for text in consents:
        if text.channel and text.key not in withheld:
            consent_record(
                lead_id=lead_id,
                channel=text.channel,
                granted=True,
                source=f"web form: {form.name}",
                at=now,
            )


def rejections_purge(*, days: int | None = None) -> int:
    """Rejected submissions are kept for review, not for ever (``LEADFLOW_CAPTURE_REJECTION_DAYS``)."""
    days = settings.LEADFLOW_CAPTURE_REJECTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    return Rejection.objects.filter(at__lt=cutoff).delete()[0]


def submissions_sweep(*, older_than_seconds: float = 20.0, limit: int = 500) -> int:
    """Re-drive received submissions whose task was lost (a killed worker, a Redis restart):
    processed here, oldest first; returns how many were."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        Submission.objects.filter(status=Submission.Status.RECEIVED, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(submission_process(submission_id=pk) is not None for pk in ids)

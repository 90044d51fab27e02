"""Reads for the privacy pages and API."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from handover.models import Handover
from leadflow.models import User
from leads.models import Activity, Identity, Lead, Note, StageChange, Task, email_in
from leads.selectors import lead_visible_qs
from leads.services import normalize_email
from privacy import blocklist
from privacy.models import BlockedIdentifier, ConsentEvent, DuplicatePair, ImportJob, ImportRowError


def error_report_header() -> tuple[str, ...]:
    """The error report's column headings in the active language (a person reads the file)."""
    return (
        pgettext("error report column", "row"),
        pgettext("error report column", "column"),
        pgettext("error report column", "value"),
        pgettext("error report column", "error"),
        pgettext("error report column", "outcome"),
    )


def error_report_rows(*, job: ImportJob, with_header: bool = False) -> Iterator[tuple[Any, ...]]:
    """The error report of an import, row by row (streamed). The texts are translated here, in
    the caller's language: a streamed response is read after the view has returned."""
    outcomes = (
        pgettext("import row outcome", "skipped"),
        pgettext("import row outcome", "failed"),
    )
    header = error_report_header() if with_header else None
    rows = ImportRowError.objects.filter(job=job).order_by("row", "id")
    return _error_report_rows(rows, header, outcomes)


def _error_report_rows(
    rows: QuerySet[ImportRowError], header: tuple[str, ...] | None, outcomes: tuple[str, str]
) -> Iterator[tuple[Any, ...]]:
    if header is not None:
        yield header
    skipped, failed = outcomes
    for error in rows.iterator(chunk_size=2000):
        yield (
            error.row,
            error.column,
            error.value,
            error.message,
            skipped if error.skipped else failed,
        )


def import_jobs(*, limit: int = 50) -> QuerySet[ImportJob]:
    return ImportJob.objects.select_related("created_by").order_by("-id")[:limit]


def open_duplicates() -> QuerySet[DuplicatePair]:
    return (
        DuplicatePair.objects.filter(status=DuplicatePair.Status.OPEN)
        .select_related("lead_a", "lead_b")
        .order_by("-similarity", "lead_a_id", "lead_b_id")
    )


# --- data-subject requests (GDPR page) ---------------------------------------------------------

SUBJECT_LEADS_LIMIT = 20  # one e-mail names one lead; identities can add a few more


@dataclass(frozen=True)
class HeldLead:
    """One lead found for a data subject, with how much is held about it."""

    lead: Lead
    matched_by: str  # "e-mail" or the identity kind that matched
    counts: dict[str, int]


@dataclass(frozen=True)
class Subject:
    """What is held about the person with one e-mail address."""

    email: str  # normalised (lower case)
    digest: str  # the blocklist's keyed hash of the e-mail
    held: list[HeldLead]
    blocked_at: datetime | None  # when the e-mail went on the erasure blocklist

    @property
    def lead_ids(self) -> list[int]:
        return [h.lead.pk for h in self.held]

    @property
    def count_labels(self) -> list[str]:
        """The column headings of ``HeldLead.counts``, in its order and the active language."""
        if not self.held:
            return []
        return [str(HELD_COUNT_LABELS.get(name, name)) for name in self.held[0].counts]


def subject_leads(*, email: str, user: User) -> dict[int, str]:
    """Leads the user may see that the e-mail names: the lead's e-mail (exact, case-insensitive,
    answered from lead_email_unique) and the identities ingestion resolves a person by (a
    Segment userId is often the e-mail), as sent or in lower case. {lead id: how matched}."""
    normal = normalize_email(email) or ""
    visible = lead_visible_qs(user=user).filter(erased_at__isnull=True)
    by_email = visible.filter(email_in([normal])).values_list("pk", flat=True)
    found = dict.fromkeys(by_email, pgettext("matched by", "e-mail"))
    identities = Identity.objects.filter(
        value__in={email.strip(), normal}, lead__in=visible
    ).values_list("lead_id", "kind")
    for lead_id, kind in identities.order_by("lead_id")[:SUBJECT_LEADS_LIMIT]:
        # Translators: how a lead was found for an e-mail address; kind is e.g. "user id".
        how = _("identity (%(kind)s)") % {"kind": Identity.Kind(kind).label.lower()}
        found.setdefault(lead_id, how)
    return dict(sorted(found.items())[:SUBJECT_LEADS_LIMIT])


def subject_find(*, email: str, user: User) -> Subject:
    """The person behind ``email`` as the data-subject request page shows them."""
    normal = normalize_email(email) or ""
    matched = subject_leads(email=email, user=user)
    leads = Lead.objects.in_bulk(list(matched))
    held = [
        HeldLead(lead=leads[pk], matched_by=how, counts=held_counts(lead_id=pk))
        for pk, how in matched.items()
        if pk in leads
    ]
    digest = blocklist.digest(blocklist.Kind.EMAIL, normal)
    blocked_at = (
        BlockedIdentifier.objects.filter(kind=blocklist.Kind.EMAIL, digest=digest)
        .values_list("created_at", flat=True)
        .first()
    )
    return Subject(email=normal, digest=digest, held=held, blocked_at=blocked_at)


HELD_COUNT_LABELS = {
    "activities": gettext_lazy("activities"),
    "consent records": gettext_lazy("consent records"),
    "notes": gettext_lazy("notes"),
    "tasks": gettext_lazy("tasks"),
    "handovers": gettext_lazy("handovers"),
    "identities": gettext_lazy("identities"),
    "stage changes": gettext_lazy("stage changes"),
}


def held_counts(*, lead_id: int) -> dict[str, int]:
    """Rows held about one lead, by kind (each count is answered from an index on lead)."""
    return {
        "activities": Activity.objects.filter(lead_id=lead_id).count(),
        "consent records": ConsentEvent.objects.filter(lead_id=lead_id).count(),
        "notes": Note.objects.filter(lead_id=lead_id).count(),
        "tasks": Task.objects.filter(lead_id=lead_id).count(),
        "handovers": Handover.objects.filter(lead_id=lead_id).count(),
        "identities": Identity.objects.filter(lead_id=lead_id).count(),
        "stage changes": StageChange.objects.filter(lead_id=lead_id).count(),
    }

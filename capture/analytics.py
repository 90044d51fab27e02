"""Reads behind the marketer's capture pages: the forms list with its figures, one form's
analytics (per day for the last 30 site days, per source), submissions and rejections.

Figures and where they come from:
- views, starts: ``FormDay`` (what the embed reports; the site's day);
- submissions: ``Submission`` rows (accepted, pending or confirmed); conversion = submissions /
  views (None without views);
- leads created / updated: submissions that created their lead / that went to a lead that
  already existed (a pending double opt-in without a lead yet is neither);
- spam rejected: ``Rejection`` rows whose reason is a spam defence (everything but invalid answers
  and unknown forms, which are a visitor's or a site's mistake rather than abuse).
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from capture.models import ConsentText, Form, FormDay, FormField, Rejection, Submission

SPAM_REASONS: Final = (
    Rejection.Reason.ORIGIN,
    Rejection.Reason.HONEYPOT,
    Rejection.Reason.TOO_FAST,
    Rejection.Reason.RATE_LIMITED,
    Rejection.Reason.CHALLENGE,
    Rejection.Reason.TOO_LARGE,
)
DAYS: Final = 30

CREATED_Q: Final = Q(created_lead=True)
UPDATED_Q: Final = Q(created_lead=False, lead__isnull=False)


def site_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def site_today() -> date:
    return timezone.localdate(timezone=site_zone())


def _count(qs: QuerySet[Submission] | QuerySet[Rejection]) -> Subquery:
    return Subquery(
        qs.order_by().values("form").annotate(n=Count("pk")).values("n")[:1],
        output_field=IntegerField(),
    )


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percent(part: int, whole: int) -> float | None:
    share = rate(part, whole)
    return None if share is None else share * 100


def form_list() -> QuerySet[Form]:
    """Every form with its totals (one query; subqueries, so counts never multiply)."""
    subs = Submission.objects.filter(form=OuterRef("pk"))
    views = (
        FormDay.objects.filter(form=OuterRef("pk"))
        .order_by()
        .values("form")
        .annotate(n=Sum("views"))
        .values("n")[:1]
    )
    return Form.objects.annotate(
        n_views=Coalesce(Subquery(views, output_field=IntegerField()), 0),
        n_submissions=Coalesce(_count(subs), 0),
        n_created=Coalesce(_count(subs.filter(CREATED_Q)), 0),
        n_updated=Coalesce(_count(subs.filter(UPDATED_Q)), 0),
        n_spam=Coalesce(
            _count(Rejection.objects.filter(form=OuterRef("pk"), reason__in=SPAM_REASONS)), 0
        ),
    ).order_by("name", "id")


@dataclass
class Figures:
    views: int = 0
    starts: int = 0
    submissions: int = 0
    created: int = 0
    updated: int = 0
    spam: int = 0

    @property
    def conversion(self) -> float | None:
        return rate(self.submissions, self.views)

    @property
    def conversion_pct(self) -> float | None:
        return percent(self.submissions, self.views)


@dataclass
class FormRow(Figures):
    form: Form | None = None


def form_rows() -> list[FormRow]:
    """The forms list: each form with its totals (``form_list``'s annotations, typed)."""
    return [
        FormRow(
            form=f,
            views=f.n_views,  # type: ignore[attr-defined]
            submissions=f.n_submissions,  # type: ignore[attr-defined]
            created=f.n_created,  # type: ignore[attr-defined]
            updated=f.n_updated,  # type: ignore[attr-defined]
            spam=f.n_spam,  # type: ignore[attr-defined]
        )
        for f in form_list()
    ]


@dataclass
class DayRow(Figures):
    day: date = field(default_factory=site_today)


@dataclass
class SourceRow(Figures):
    source: str = ""


@dataclass
class FormAnalytics:
    since: date
    until: date
    total: Figures
    days: list[DayRow]
    sources: list[SourceRow]


def form_analytics(*, form: Form, days: int = DAYS, today: date | None = None) -> FormAnalytics:
    """Per site day (oldest first, every day listed) and per source, for the last ``days``."""
    until = today or site_today()
    since = until - timedelta(days=days - 1)
    zone = site_zone()
    rows = {since + timedelta(days=n): DayRow(day=since + timedelta(days=n)) for n in range(days)}
    for fd in FormDay.objects.filter(form=form, day__range=(since, until)):
        rows[fd.day].views, rows[fd.day].starts = fd.views, fd.starts
    subs = Submission.objects.filter(form=form).annotate(d=TruncDate("created_at", tzinfo=zone))
    subs = subs.filter(d__range=(since, until))
    per_day = (
        subs.order_by()
        .values("d")
        .annotate(n=Count("pk"), c=Count("pk", filter=CREATED_Q), u=Count("pk", filter=UPDATED_Q))
    )
    for r in per_day:
        row = rows[r["d"]]
        row.submissions, row.created, row.updated = r["n"], r["c"], r["u"]
    spam = (
        Rejection.objects.filter(form=form, reason__in=SPAM_REASONS)
        .annotate(d=TruncDate("at", tzinfo=zone))
        .filter(d__range=(since, until))
        .order_by()
        .values("d")
        .annotate(n=Count("pk"))
    )
    for r in spam:
        rows[r["d"]].spam = r["n"]
    per_source = (
        subs.order_by()
        .values("source")
        .annotate(n=Count("pk"), c=Count("pk", filter=CREATED_Q), u=Count("pk", filter=UPDATED_Q))
        .order_by("-n", "source")
    )
    sources = [
        SourceRow(source=r["source"], submissions=r["n"], created=r["c"], updated=r["u"])
        for r in per_source
    ]
    days_list = list(rows.values())
    total = Figures(
        **{
            k: sum(getattr(d, k) for d in days_list)
            for k in ("views", "starts", "submissions", "created", "updated", "spam")
        }
    )
    return FormAnalytics(since=since, until=until, total=total, days=days_list, sources=sources)


def form_fields(form: Form) -> QuerySet[FormField]:
    return form.fields.order_by("position", "id")


def consent_current(form: Form) -> QuerySet[ConsentText]:
    return form.consent_texts.filter(retired=False).order_by("position", "key")


def consent_history(form: Form) -> dict[str, list[ConsentText]]:
    """Every version of every key (newest first), keys in form order; with the number of
    records that point at each version."""
    out: dict[str, list[ConsentText]] = {}
    qs = form.consent_texts.annotate(n_records=Count("records")).order_by(
        "position", "key", "-version"
    )
    for text in qs:
        out.setdefault(text.key, []).append(text)
    return out


def submission_list(*, form: Form) -> QuerySet[Submission]:
    return (
        Submission.objects.filter(form=form).select_related("lead").order_by("-created_at", "-id")
    )


def rejection_list(*, form: Form, reason: str = "") -> QuerySet[Rejection]:
    qs = Rejection.objects.filter(form=form)
    if reason:
        qs = qs.filter(reason=reason)
    return qs.order_by("-at", "-id")

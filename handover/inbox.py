"""The SAL inbox's rows, built in Python as leads/cards.py builds board cards.

A manager's inbox shows 200 waiting handovers; through the template engine each row took
about 0.1 ms (some twenty variable lookups, escapes and a ``{% csrf_token %}``), and each SLA
clock's "Accept or reject by" date (``dateformat``, translated day and month names) about
0.05 ms. Here a row is one f-string of escaped values — the same markup — and a deadline's
date is formatted once per day shown. ``{% inbox_row %}`` and ``{% sal_row %}`` (handover_ui)
are the one way the page shows a row. Values are escaped with ``html.escape``, which is what
``django.utils.html.escape`` returns, less its lazy-string wrapper (a third of a row's time).
"""

from datetime import date, datetime
from html import escape
from typing import Any, NamedTuple

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _


class SlaClock(NamedTuple):
    """A row's running SLA deadline as the page writes it: ``iso`` for the countdown script,
    ``left`` ("2 hours, 30 minutes") and ``at`` ("Sat 05 Dec 14:30", local time)."""

    iso: str
    left: str
    at: str


class SlaClocks:
    """Writes the deadlines of one page, all against the same ``now``: the day part of "at"
    ("D d M", translated) is formatted once per day, the time part by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._days: dict[date, str] = {}

    def __call__(self, due: datetime | None) -> SlaClock | None:
        if due is None:
            return None
        local = timezone.localtime(due)
        day = self._days.get(local.date())
        if day is None:
            day = self._days[local.date()] = date_format(local, "D d M")
        return SlaClock(due.isoformat(), timeuntil(due, self.now), f"{day} {local:%H:%M}")


class RowTexts(NamedTuple):
    """The words of the rows, in the page's language: looked up once a page and carried by
    every row (``row["texts"]``), as a lookup costs about 15 µs and a page has 200 rows."""

    you: str
    team_queue: str
    unassigned_queue: str
    owner: str
    no_sla: str
    accept_by: str
    due: str
    row_label: str
    accept: str
    reject: str
    qualify: str

    @classmethod
    def current(cls) -> "RowTexts":
        return cls(
            # Translators: the owner of a handover in the SAL inbox ("Owner: you")
            you=_("you"),
            team_queue=_("team queue"),
            unassigned_queue=_("unassigned queue"),
            owner=_("Owner:"),
            no_sla=_("no SLA"),
            # Translators: %(at)s is a day and time ("Sat 05 Dec 14:30")
            accept_by=_("Accept or reject by %(at)s"),
            # Translators: %(left)s is a time span ("2 hours, 30 minutes")
            due=_("due %(left)s"),
            # Translators: a screen reader's label of an inbox row: a lead, its company, its score
            row_label=_("%(name)s, %(company)s, score %(score)s"),
            accept=_("Accept"),
            reject=_("Reject…"),
            qualify=_("Qualify…"),
        )


def _csrf_input(csrf_token: str) -> str:
    """``{% csrf_token %}``'s markup (nothing when the page has no token)."""
    if not csrf_token or csrf_token == "NOTPROVIDED":  # noqa: S105  (Django's "no token" marker)
        return ""
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf_token)}">'


def handover_row_html(row: dict[str, Any], *, csrf_token: str) -> SafeString:
    """One waiting handover's ``<li>``: ``row`` as ``handover.views._handover_row`` makes it."""
    texts: RowTexts = row["texts"]
    pk, name, company = escape(row["pk"]), escape(row["name"]), escape(row["company"])
    job_title, grade, score = escape(row["job_title"]), escape(row["grade"]), escape(row["score"])
    accept_url, source = escape(row["accept_url"]), escape(row["source"])
    tag = f'<span class="tag">{source}</span>' if source else ""
    sla: SlaClock | None = row["sla"]
    if sla is None:
        clock = f'<span class="muted">{escape(texts.no_sla)}</span>'
    else:
        clock = (
            f'<time data-countdown datetime="{escape(sla.iso)}" '
            f'title="{escape(texts.accept_by % {"at": sla.at})}">'
            f"{escape(texts.due % {'left': sla.left})}</time>"
        )
    label = texts.row_label % {
        "name": row["name"],
        "company": row["company"],
        "score": row["score"],
    }
    return mark_safe(  # noqa: S308  (every value escaped above)
        f'<li class="inbox-row" id="handover-{pk}" tabindex="0" data-handover="{pk}" '
        f'data-name="{name}" data-reject-url="{escape(row["reject_url"])}" '
        f'aria-label="{escape(label)}">\n'
        '      <div class="who">\n'
        f'        <a class="lead-name" href="{escape(row["lead_url"])}">{name}</a>\n'
        f'        <span class="muted">{job_title}{" · " if job_title and company else ""}'
        f"{company}</span>\n"
        "      </div>\n"
        '      <div class="facts-inline">\n'
        f'        <span class="score grade-{escape(row["grade_class"])}">{score}'
        f"{f' <b>{grade}</b>' if grade else ''}</span>\n"
        f"        {tag}\n"
        f'        <span class="owner" data-owner="{escape(row["owner_id"])}">'
        f'<span class="muted">{escape(texts.owner)}</span> {escape(row["owner"])}</span>\n'
        "      </div>\n"
        '      <div class="sla">\n'
        f"        {clock}\n"
        "      </div>\n"
        '      <div class="row-actions">\n'
        f'        <form method="post" action="{accept_url}" hx-post="{accept_url}" '
        f'hx-target="#handover-{pk}" hx-swap="outerHTML" class="inline">\n'
        f"          {_csrf_input(csrf_token)}"
        f'<button type="submit" class="accept" aria-keyshortcuts="a">{escape(texts.accept)}</button>\n'
        "        </form>\n"
        '        <button type="button" class="secondary reject-open" aria-haspopup="dialog" '
        f'aria-keyshortcuts="r" data-handover="{pk}">{escape(texts.reject)}</button>\n'
        "      </div>\n"
        "    </li>"
    )


def sal_row_html(row: dict[str, Any]) -> SafeString:
    """One accepted lead waiting for qualification: ``row`` as ``handover.views._sal_row``
    makes it."""
    texts: RowTexts = row["texts"]
    sla: SlaClock | None = row["sla"]
    clock = (
        f'<time data-countdown datetime="{escape(sla.iso)}">'
        f"{escape(texts.due % {'left': sla.left})}</time>"
        if sla is not None
        else ""
    )
    grade = escape(row["grade"])
    return mark_safe(  # noqa: S308  (every value escaped above)
        '<li class="inbox-row">\n'
        f'      <div class="who"><a class="lead-name" href="{escape(row["lead_url"])}">'
        f'{escape(row["name"])}</a> <span class="muted">{escape(row["company"])}</span></div>\n'
        f'      <div class="facts-inline"><span class="score">{escape(row["score"])}'
        f"{f' <b>{grade}</b>' if grade else ''}</span></div>\n"
        f'      <div class="sla">{clock}</div>\n'
        f'      <div class="row-actions"><a class="button" href="{escape(row["qualify_url"])}">'
        f"{escape(texts.qualify)}</a></div>\n"
        "    </li>"
    )

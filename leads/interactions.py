"""Calls, meetings and e-mails a person logs on a lead (issue 17): the rules, in one place.

Pure: no database. The lead page's form, the logging service and the REST event API all check
through ``interaction_errors``; the timeline labels come from ``interaction_label``. A logged
interaction is an ``Activity`` of one of ``LOGGED_KINDS`` whose ``properties`` hold
``outcome`` (one of ``OUTCOMES[kind]``), ``duration_minutes`` (calls and meetings only) and
``notes``, so scoring rules can select on them like on any property (``outcome eq connected``).
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from leads.models import ActivityKind

LOGGED_KINDS: Final = (
    ActivityKind.SALES_CALL,
    ActivityKind.SALES_MEETING,
    ActivityKind.SALES_EMAIL,
)
# Labels are lazy translations: a page shows them in its reader's language (str() them to use
# them as text).
SHORT_LABELS: Final[dict[str, str | Promise]] = {
    ActivityKind.SALES_CALL: gettext_lazy("Call"),
    ActivityKind.SALES_MEETING: gettext_lazy("Meeting"),
    ActivityKind.SALES_EMAIL: gettext_lazy("E-mail"),
}
# The choice list per kind: (stored value, label). Values are stable (scoring rules name them).
OUTCOMES: Final[dict[str, tuple[tuple[str, str | Promise], ...]]] = {
    ActivityKind.SALES_CALL: (
        ("connected", gettext_lazy("connected")),
        ("left_voicemail", gettext_lazy("left voicemail")),
        ("no_answer", gettext_lazy("no answer")),
        ("wrong_number", gettext_lazy("wrong number")),
    ),
    ActivityKind.SALES_MEETING: (
        ("held", gettext_lazy("held")),
        ("no_show", gettext_lazy("no-show")),
        ("rescheduled", gettext_lazy("rescheduled")),
    ),
    ActivityKind.SALES_EMAIL: (
        ("sent", gettext_lazy("sent")),
        ("replied", gettext_lazy("replied")),
    ),
}
# Whole sentences per kind, so that a translator words "the call" in their own grammar.
_OUTCOME_ERRORS: Final[dict[str, str | Promise]] = {
    ActivityKind.SALES_CALL: gettext_lazy("Choose the outcome of the call: %(outcomes)s."),
    ActivityKind.SALES_MEETING: gettext_lazy("Choose the outcome of the meeting: %(outcomes)s."),
    ActivityKind.SALES_EMAIL: gettext_lazy("Choose the outcome of the e-mail: %(outcomes)s."),
}
_NO_DURATION: Final[dict[str, str | Promise]] = {  # the kinds without MAX_MINUTES
    ActivityKind.SALES_EMAIL: gettext_lazy("An e-mail has no duration; leave it empty."),
}
# Minutes: a call or meeting lasts 1 minute to 8 hours; an e-mail has no duration.
MAX_MINUTES: Final[dict[str, int]] = {
    ActivityKind.SALES_CALL: 8 * 60,
    ActivityKind.SALES_MEETING: 8 * 60,
}
# When it happened: up to a minute ahead (clocks differ), at most a year back (a typo: "2015").
FUTURE_TOLERANCE: Final = timedelta(minutes=1)
MAX_AGE: Final = timedelta(days=366)
MAX_NOTES: Final = 5000


def is_logged(kind: str) -> bool:
    return kind in SHORT_LABELS


def outcome_label(kind: str, outcome: Any) -> str:
    return str(dict(OUTCOMES.get(kind, ())).get(outcome, "")) if isinstance(outcome, str) else ""


def interaction_errors(
    *,
    kind: str,
    outcome: Any,
    duration_minutes: Any,
    occurred_at: datetime | None,
    notes: Any = "",
    now: datetime,
) -> dict[str, str]:
    """Every field that is wrong, with why ({} when all is well). ``occurred_at`` None is left
    to the caller (the form requires it; the API defaults it to now)."""
    errors: dict[str, str] = {}
    if kind not in SHORT_LABELS:
        allowed = ", ".join(str(k) for k in LOGGED_KINDS)
        return {"kind": _("Choose one of %(kinds)s.") % {"kinds": allowed}}
    choices = [value for value, _label in OUTCOMES[kind]]
    if outcome not in choices:
        errors["outcome"] = str(_OUTCOME_ERRORS[kind]) % {"outcomes": ", ".join(choices)}
    if kind in MAX_MINUTES:
        most = MAX_MINUTES[kind]
        if duration_minutes is not None and (
            isinstance(duration_minutes, bool)
            or not isinstance(duration_minutes, int)
            or not 1 <= duration_minutes <= most
        ):
            errors["duration_minutes"] = _("Give whole minutes from 1 to %(most)d.") % {
                "most": most
            }
    elif duration_minutes is not None:
        errors["duration_minutes"] = str(_NO_DURATION[kind])
    if occurred_at is not None:
        if occurred_at > now + FUTURE_TOLERANCE:
            errors["occurred_at"] = _("That is in the future; log what has already happened.")
        elif occurred_at < now - MAX_AGE:
            errors["occurred_at"] = _("That is more than a year ago; check the year.")
    if not isinstance(notes, str):
        errors["notes"] = _("Notes must be text.")
    elif len(notes) > MAX_NOTES:
        errors["notes"] = _("Keep notes under %(most)s characters.") % {
            "most": number_format(MAX_NOTES, force_grouping=True)
        }
    return errors


def interaction_properties(
    *, outcome: str, duration_minutes: int | None, notes: str
) -> dict[str, Any]:
    props: dict[str, Any] = {"outcome": outcome}
    if duration_minutes is not None:
        props["duration_minutes"] = duration_minutes
    if notes:
        props["notes"] = notes
    return props


def interaction_label(kind: str, properties: Mapping[str, Any]) -> str:
    """ "Call — connected, 12 min"; what an unknown outcome or duration cannot say is left out."""
    parts = []
    if outcome := outcome_label(kind, properties.get("outcome")):
        parts.append(outcome)
    minutes = properties.get("duration_minutes")
    if isinstance(minutes, int) and not isinstance(minutes, bool) and minutes > 0:
        # Translators: how long a logged call or meeting lasted
        parts.append(ngettext("%(minutes)d min", "%(minutes)d min", minutes) % {"minutes": minutes})
    head = str(SHORT_LABELS.get(kind, kind))
    if not parts:
        return head
    # Translators: a logged interaction on the timeline, e.g. "Call — connected, 12 min"
    return _("%(kind)s — %(details)s") % {"kind": head, "details": ", ".join(parts)}

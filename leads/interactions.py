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

from leads.models import ActivityKind

LOGGED_KINDS: Final = (
    ActivityKind.SALES_CALL,
    ActivityKind.SALES_MEETING,
    ActivityKind.SALES_EMAIL,
)
SHORT_LABELS: Final[dict[str, str]] = {
    ActivityKind.SALES_CALL: "Call",
    ActivityKind.SALES_MEETING: "Meeting",
    ActivityKind.SALES_EMAIL: "E-mail",
}
# The choice list per kind: (stored value, label). Values are stable (scoring rules name them).
OUTCOMES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    ActivityKind.SALES_CALL: (
        ("connected", "connected"),
        ("left_voicemail", "left voicemail"),
        ("no_answer", "no answer"),
        ("wrong_number", "wrong number"),
    ),
    ActivityKind.SALES_MEETING: (
        ("held", "held"),
        ("no_show", "no-show"),
        ("rescheduled", "rescheduled"),
    ),
    ActivityKind.SALES_EMAIL: (("sent", "sent"), ("replied", "replied")),
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
    return dict(OUTCOMES.get(kind, ())).get(outcome, "") if isinstance(outcome, str) else ""


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
        return {"kind": f"Choose one of {allowed}."}
    label = SHORT_LABELS[kind]
    choices = [value for value, _ in OUTCOMES[kind]]
    if outcome not in choices:
        errors["outcome"] = f"Choose the outcome of the {label.lower()}: {', '.join(choices)}."
    if kind in MAX_MINUTES:
        most = MAX_MINUTES[kind]
        if duration_minutes is not None and (
            isinstance(duration_minutes, bool)
            or not isinstance(duration_minutes, int)
            or not 1 <= duration_minutes <= most
        ):
            errors["duration_minutes"] = f"Give whole minutes from 1 to {most}."
    elif duration_minutes is not None:
        errors["duration_minutes"] = f"An {label.lower()} has no duration; leave it empty."
    if occurred_at is not None:
        if occurred_at > now + FUTURE_TOLERANCE:
            errors["occurred_at"] = "That is in the future; log what has already happened."
        elif occurred_at < now - MAX_AGE:
            errors["occurred_at"] = "That is more than a year ago; check the year."
    if not isinstance(notes, str):
        errors["notes"] = "Notes must be text."
    elif len(notes) > MAX_NOTES:
        errors["notes"] = f"Keep notes under {MAX_NOTES:,} characters."
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
        parts.append(f"{minutes} min")
    head = SHORT_LABELS.get(kind, kind)
    return f"{head} — {', '.join(parts)}" if parts else head

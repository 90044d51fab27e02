"""A board card's HTML, built in Python.

The board renders 200 cards a page; through the template engine each took about 0.5 ms (some
thirty variable lookups, filters and escapes a card), which was most of the board's time at 1M
leads. Here a card is one f-string of escaped values: the same markup, a fraction of the cost.
``{% card lead %}`` (leads_ui) is the one way pages show a card.

Its words are looked up once per language (``_texts``), not once per card: gettext costs about
15 µs a call, ten words on 200 cards. They are escaped like every value, so a translation cannot
break the markup.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from leads import customfields
from leads.models import CustomField, Lead


@dataclass(frozen=True)
class _Texts:
    """A card's words in one language, escaped; those with a placeholder are still to fill."""

    score: str
    select: str
    no_company: str
    account: str
    owner: str
    unassigned: str
    source: str
    time_in_stage: str
    in_stage: str
    tags: str
    move_to_named: str
    move_named: str
    move_to: str
    move: str


@lru_cache(maxsize=16)
def _words(language: str | None) -> _Texts:
    with translation.override(language):
        return _Texts(
            score=_("Score %(score)s: fit %(fit)s, engagement %(engagement)s"),
            select=_("Select %(name)s"),
            no_company=escape(_("No company")),
            # Translators: a board card's tooltip on the company a lead belongs to (a B2B account)
            account=escape(pgettext("a B2B company", "Account")),
            owner=escape(_("Owner")),
            unassigned=escape(_("Unassigned")),
            source=escape(_("Source")),
            time_in_stage=escape(_("Time in stage")),
            in_stage=_("%(age)s in stage"),
            tags=escape(_("Tags")),
            move_to_named=_("Move %(name)s to"),
            move_named=_("Move %(name)s"),
            move_to=escape(_("Move to…")),
            move=escape(_("Move")),
        )


def _texts() -> _Texts:
    return _words(translation.get_language())


def card_html(
    lead: Lead,
    *,
    moves: Sequence[tuple[str, str]],
    fields: Sequence[CustomField],
    csrf_token: str,
    lead_url: str,
    move_url: str,
    age: str,
    display: Callable[[CustomField, Any], str] = customfields.display,
) -> SafeString:
    """One ``<li>`` card. ``moves``: (stage, label) the viewer may move it to; ``fields``: the
    custom fields shown on cards that the viewer may see; ``age``: time in stage, compact;
    ``display``: how a value shows (a page's ``customfields.Display``)."""
    pk, stage, name = lead.pk, escape(lead.stage), escape(lead.display_name)
    changed = escape(lead.stage_changed_at.isoformat())
    grade = escape(lead.grade)
    t = _texts()
    score_title = t.score % {
        "score": lead.score,
        "fit": lead.fit_score,
        "engagement": lead.engagement_score,
    }
    score = (
        f'<span class="score grade-{escape((lead.grade or "none").lower())}" '
        f'title="{escape(score_title)}">'
        f"{lead.score}{f' <b>{grade}</b>' if lead.grade else ''}</span>"
    )
    parts = [
        f'<li class="card-lead" id="lead-{pk}" data-lead="{pk}" data-stage="{stage}" '
        f'data-changed="{changed}" data-move-url="{escape(move_url)}" data-name="{name}">',
        '<div class="card-top">',
        f'<input type="checkbox" class="card-select" name="lead" value="{pk}" form="bulk-form" '
        f'aria-label="{escape(t.select % {"name": lead.display_name})}">',
        f'<a class="lead-name" href="{escape(lead_url)}">{name}</a>',
        score,
        "</div>",
        _company(lead, t),
        _custom(lead, fields, display),
        _tags(lead),
        '<div class="card-meta">',
        f'<span title="{t.owner}">'
        + (escape(str(lead.owner)) if lead.owner else f"<i>{t.unassigned}</i>")
        + "</span>",
        f'<span class="tag" title="{t.source}">{escape(lead.source)}</span>' if lead.source else "",
        f'<span title="{t.time_in_stage}"><time datetime="{changed}">'
        f"{escape(t.in_stage % {'age': age})}</time></span>",
        _badge(getattr(lead, "sla_badge", None)),
        "</div>",
        _move_form(lead, moves, csrf_token, move_url) if moves else "",
        "</li>",
    ]
    return mark_safe("\n".join(p for p in parts if p))  # noqa: S308  (every value escaped above)


def _company(lead: Lead, t: _Texts) -> str:
    account = getattr(lead, "card_account", None)
    if account is not None:  # the account it belongs to, a link (its company text may differ)
        return (
            f'<div class="muted"><a class="card-account" href="{escape(account.url)}" '
            f'title="{t.account}">{escape(account.name)}</a></div>'
        )
    return f'<div class="muted">{escape(lead.company) if lead.company else t.no_company}</div>'


def _custom(
    lead: Lead, fields: Sequence[CustomField], display: Callable[[CustomField, Any], str]
) -> str:
    values = lead.custom or {}
    shown = [
        f"<div><dt>{escape(f.label)}</dt><dd>{escape(display(f, values[f.key]))}</dd></div>"
        for f in fields
        if values.get(f.key) not in customfields.EMPTY
    ]
    return f'<dl class="card-custom">{"".join(shown)}</dl>' if shown else ""


def _tags(lead: Lead) -> str:
    tags = list(lead.tags.all())  # prefetched by the board's selectors
    if not tags:
        return ""
    spans = "".join(
        f'<span class="lead-tag lead-tag-{escape(t.colour)}">{escape(t.name)}</span>' for t in tags
    )
    return f'<div class="card-tags" aria-label="{_texts().tags}">{spans}</div>'


def _badge(badge: Any) -> str:
    if badge is None:
        return ""
    return (
        f'<span class="badge {escape(badge.tone)}" title="{escape(badge.title)}">'
        f"{escape(badge.label)}</span>"
    )


def _move_form(lead: Lead, moves: Sequence[tuple[str, str]], csrf_token: str, move_url: str) -> str:
    pk, name, url = lead.pk, escape(lead.display_name), escape(move_url)
    csrf = (
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(csrf_token)}">'
        if csrf_token and csrf_token != "NOTPROVIDED"  # noqa: S105  (Django's "no token" marker)
        else ""
    )
    options = "".join(f'<option value="{escape(v)}">{escape(label)}</option>' for v, label in moves)
    t = _texts()
    move_to_label = escape(t.move_to_named % {"name": lead.display_name})
    move_label = escape(t.move_named % {"name": lead.display_name})
    # names as attributes: the lead's name stays the card's only text match (get_by_text)
    return (
        f'<form class="card-move" method="post" action="{url}" hx-post="{url}" '
        f'hx-target="#lead-{pk}" hx-swap="outerHTML" data-name="{name}">'
        f'{csrf}<input type="hidden" name="expected_stage" value="{escape(lead.stage)}">'
        '<input type="hidden" name="expected_changed_at" '
        f'value="{escape(lead.stage_changed_at.isoformat())}">'
        '<input type="hidden" name="reason" value="">'
        '<input type="hidden" name="reason_code" value="">'
        f'<select id="move-{pk}" name="to" required aria-label="{move_to_label}">'
        f'<option value="">{t.move_to}</option>{options}</select>'
        f'<button type="submit" class="secondary" aria-label="{move_label}">'
        f"{t.move}</button>"
        "</form>"
    )

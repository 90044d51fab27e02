"""Small, fast filters for the board: a board page renders hundreds of cards, so per-card
``{% url %}`` reversing and ``timesince`` showed up in profiles."""

from collections.abc import Callable
from datetime import datetime
from functools import cache

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.formats import date_format as named_date_format
from django.utils.formats import number_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from leadflow.i18n import shown
from leads import customfields
from leads.cards import card_html
from leads.lifecycle import STAGE_EXPLANATIONS, Stage
from leads.models import CustomField, FieldType, Lead

register = template.Library()


@cache
def url_pattern(name: str) -> str:
    """The URL of ``name`` with ``{}`` for its one id: reverse once, then build each row's
    link by formatting (the board and the SAL inbox)."""
    return reverse(name, args=[987654321]).replace("987654321", "{}")


@register.filter(name="shown")
def shown_filter(value: str) -> str:
    """A stored text as its reader sees it (leadflow.i18n.shown): a system reason such as
    "created" in the reader's language, anything a person typed as typed."""
    return shown(value)


@register.filter
def explained(stage: str) -> str:
    """What a stage means, in words (MQL: "Marketing qualified lead"), for a title."""
    return str(STAGE_EXPLANATIONS.get(Stage(stage), ""))


@register.filter
def grouped(value: int) -> str:
    """A count with the reader's digit grouping (1,234; Danish and German 1.234; Czech and
    Hungarian 1 234), which Django leaves out of plain template numbers."""
    return str(number_format(value, force_grouping=True))


@register.filter
def lead_url(lead_id: int) -> str:
    return url_pattern("leads:detail").format(int(lead_id))


@register.filter
def lead_move_url(lead_id: int) -> str:
    return url_pattern("leads:move").format(int(lead_id))


@register.filter
def age(value: datetime | None) -> str:
    """ "5 min", "3 h", "4 d", "6 wk", "7 mo", "2 y": how long ago, compactly (the units are
    translated with ngettext: some languages inflect even an abbreviation by the number)."""
    if value is None:
        return ""
    seconds = max(0, int((timezone.now() - value).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        # Translators: a compact age on a board card: minutes
        return ngettext("%(n)d min", "%(n)d min", minutes) % {"n": minutes}
    if hours < 48:
        # Translators: a compact age on a board card: hours
        return ngettext("%(n)d h", "%(n)d h", hours) % {"n": hours}
    if days < 14:
        # Translators: a compact age on a board card: days
        return ngettext("%(n)d d", "%(n)d d", days) % {"n": days}
    if days < 60:
        # Translators: a compact age on a board card: weeks
        return ngettext("%(n)d wk", "%(n)d wk", days // 7) % {"n": days // 7}
    if days < 730:
        # Translators: a compact age on a board card: months
        return ngettext("%(n)d mo", "%(n)d mo", days // 30) % {"n": days // 30}
    # Translators: a compact age on a board card: years
    return ngettext("%(n)d y", "%(n)d y", days // 365) % {"n": days // 365}


@register.filter
def when(value: datetime | None) -> str:
    """ "05 Dec 14:30" this year, "05 Dec 2027 14:30" (DATETIME_FORMAT) in any other (local
    time). The month's abbreviation follows the language; a date this year has no named
    format, so its day-month-time order stays the one English uses."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    if local.year == timezone.localdate().year:
        return date_format(local, "d M H:i")
    return named_date_format(local, "DATETIME_FORMAT")


@register.filter
def moves_for(
    card_moves: dict[str, list[tuple[str, str]]] | None, stage: str
) -> list[tuple[str, str]]:
    """The (stage, label) moves a board card offers: ``card_moves`` comes from the view."""
    return (card_moves or {}).get(stage, [])


def _card_fields(context: template.Context) -> list[CustomField]:
    """The custom fields marked "show on cards" that the viewer may see (the fields and roles
    are read once per request: customfields memoizes them on the user)."""
    request = context.get("request")
    if request is None:
        return []
    return [f for f in customfields.visible_fields(request.user) if f.show_on_cards]


def _display(context: template.Context) -> customfields.Display:
    """The page's one ``customfields.Display``: a user field's user is read once a page."""
    request = context.get("request")
    if request is None:
        return customfields.Display()
    if not hasattr(request, "_custom_display"):
        request._custom_display = customfields.Display()
    shown: customfields.Display = request._custom_display
    return shown


@register.simple_tag(takes_context=True)
def card_fields(context: template.Context) -> list[CustomField]:
    """``{% card_fields as fields %}``: the list's extra columns, the cards' extra lines."""
    return _card_fields(context)


@register.simple_tag(takes_context=True)
def card(context: template.Context, lead: Lead) -> SafeString:
    """``{% card lead %}``: a board card (leads/cards.py), with the moves, card fields and CSRF
    token of the page."""
    return card_html(
        lead,
        moves=moves_for(context.get("card_moves"), lead.stage),
        fields=_card_fields(context),
        csrf_token=str(context.get("csrf_token") or ""),
        lead_url=lead_url(lead.pk),
        move_url=lead_move_url(lead.pk),
        age=age(lead.stage_changed_at),
        display=_display(context),
    )


@register.simple_tag(takes_context=True)
def custom_value(context: template.Context, lead: Lead, field: CustomField) -> str:
    """``{% custom_value lead field %}``: a list cell, as the page's cards show it."""
    return _display(context)(field, (lead.custom or {}).get(field.key))


@register.simple_tag(takes_context=True)
def custom_filter_inputs(context: template.Context) -> list[dict[str, object]]:
    """The filter form's inputs for the custom fields the viewer may see: a select for
    choices and yes/no, from-to for numbers and dates, a text box otherwise."""
    request = context.get("request")
    if request is None:
        return []
    params = context.get("filters")
    getlist: Callable[[str], list[str]] = getattr(params, "getlist", lambda name: [])
    out: list[dict[str, object]] = []
    for field in customfields.visible_fields(request.user):
        if field.type == FieldType.LONG_TEXT:
            continue
        name = f"cf_{field.key}"
        entry: dict[str, object] = {"field": field, "name": name, "values": getlist(name)}
        if field.type in (FieldType.CHOICE, FieldType.MULTI_CHOICE):
            entry["options"] = [(c["value"], c["label"]) for c in field.choices]
        elif field.type == FieldType.BOOLEAN:
            entry["options"] = [("true", _("Yes")), ("false", _("No"))]
        elif field.type in customfields.ORDERED:
            dated = field.type in (FieldType.DATE, FieldType.DATETIME)
            input_type = "date" if dated else "text"
            entry.update(
                ranged=True,
                input_type=input_type,
                low=(getlist(f"{name}__min") or [""])[0],
                high=(getlist(f"{name}__max") or [""])[0],
            )
        out.append(entry)
    return out


@register.filter
def get_errors(errors: object, name: str) -> list[str]:
    """A form's errors for the field ``name`` (names with "__" cannot be read with a dot)."""
    return list(errors.get(name, [])) if isinstance(errors, dict) else []

"""Small, fast filters for the board: a board page renders hundreds of cards, so per-card
``{% url %}`` reversing and ``timesince`` showed up in profiles."""

from datetime import datetime
from functools import cache

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()


@cache
def url_pattern(name: str) -> str:
    """The URL of ``name`` with ``{}`` for its one id: reverse once, then build each row's
    link by formatting (the board and the SAL inbox)."""
    return reverse(name, args=[987654321]).replace("987654321", "{}")


@register.filter
def lead_url(lead_id: int) -> str:
    return url_pattern("leads:detail").format(int(lead_id))


@register.filter
def lead_move_url(lead_id: int) -> str:
    return url_pattern("leads:move").format(int(lead_id))


@register.filter
def age(value: datetime | None) -> str:
    """ "5 min", "3 h", "4 d", "6 wk", "7 mo", "2 y": how long ago, compactly."""
    if value is None:
        return ""
    seconds = max(0, int((timezone.now() - value).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        return f"{minutes} min"
    if hours < 48:
        return f"{hours} h"
    if days < 14:
        return f"{days} d"
    if days < 60:
        return f"{days // 7} wk"
    if days < 730:
        return f"{days // 30} mo"
    return f"{days // 365} y"


@register.filter
def when(value: datetime | None) -> str:
    """ "05 Dec 14:30" this year, "05 Dec 2027 14:30" in any other (local time)."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    same_year = local.year == timezone.localdate().year
    return date_format(local, "d M H:i" if same_year else "d M Y H:i")


@register.filter
def moves_for(
    card_moves: dict[str, list[tuple[str, str]]] | None, stage: str
) -> list[tuple[str, str]]:
    """The (stage, label) moves a board card offers: ``card_moves`` comes from the view."""
    return (card_moves or {}).get(stage, [])

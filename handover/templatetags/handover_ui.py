"""Template tags of the handover pages."""

from typing import Any

from django import template
from django.utils.safestring import SafeString

from handover.inbox import handover_row_html, sal_row_html

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_row(context: template.Context, row: dict[str, Any]) -> SafeString:
    """``{% inbox_row h %}``: a waiting handover's row (handover/inbox.py), with the page's
    CSRF token."""
    return handover_row_html(row, csrf_token=str(context.get("csrf_token") or ""))


@register.simple_tag
def sal_row(row: dict[str, Any]) -> SafeString:
    """``{% sal_row lead %}``: an accepted lead's row (handover/inbox.py)."""
    return sal_row_html(row)

from django import template
from django.contrib.auth.models import AbstractUser, AnonymousUser

from configure.sections import Section, visible_sections

register = template.Library()


@register.simple_tag
def settings_sections(user: AbstractUser | AnonymousUser) -> list[Section]:
    """``{% settings_sections user as sections %}``: the Settings sections this user may open."""
    return visible_sections(user)

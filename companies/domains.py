"""What an account's domain may be: a bare host name, lower-case, never free mail."""

import contextlib
import re
from typing import Final

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from leadflow.maildomains import is_free_mail

# labels of letters, digits and inner hyphens, at least one dot, a letter-only (or punycode) TLD
_DOMAIN: Final = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)


def domain_clean(raw: str) -> str:
    """``raw`` as stored (``Acme.COM`` → ``acme.com``; a pasted ``https://www.acme.com/x`` or an
    e-mail address is refused, not guessed at). Raises ValidationError with the reason."""
    domain = raw.strip().lower().rstrip(".")
    with contextlib.suppress(UnicodeError):  # the pattern below then refuses it, with the reason
        domain = domain.encode("idna").decode("ascii") if domain else domain
    if not _DOMAIN.match(domain):
        raise ValidationError(
            _("“%(value)s” is not a domain name such as example.com.") % {"value": raw.strip()}
        )
    if is_free_mail(domain):
        raise ValidationError(
            _(
                "%(value)s is a free-mail or disposable domain: its people work for many "
                "companies, so it cannot be an account's domain."
            )
            % {"value": domain}
        )
    return domain

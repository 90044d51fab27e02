"""Personal e-mail domains: free mail and disposable addresses. Their people are no company's
staff, so a fit rule's ``free_mail`` test and account matching by e-mail domain both read this
one list. ``LEADFLOW_FREE_MAIL_DOMAINS_EXTRA`` (comma-separated) adds local ones."""

from typing import Final

from django.conf import settings

BUILT_IN: Final[tuple[str, ...]] = (
    # international free mail
    "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com", "hotmail.com",
    "outlook.com", "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com",
    "protonmail.com", "proton.me", "pm.me", "tutanota.com", "tuta.io", "zoho.com", "fastmail.com",
    "gmx.com", "mail.com", "yandex.ru", "yandex.com", "mail.ru",
    # our first markets: Germany, Denmark, Czechia, Hungary
    "gmx.de", "gmx.net", "gmx.at", "web.de", "t-online.de", "freenet.de", "posteo.de",
    "mailbox.org", "yahoo.de", "hotmail.de", "outlook.de", "live.de",
    "hotmail.dk", "live.dk", "outlook.dk", "yahoo.dk", "jubii.dk", "ofir.dk", "mail.dk",
    "seznam.cz", "email.cz", "post.cz", "centrum.cz", "atlas.cz", "volny.cz", "tiscali.cz",
    "freemail.hu", "citromail.hu", "indamail.hu", "vipmail.hu", "gmail.hu",
    # disposable addresses
    "mailinator.com", "guerrillamail.com", "sharklasers.com", "10minutemail.com",
    "temp-mail.org", "yopmail.com", "trashmail.com", "getnada.com", "dispostable.com",
    "maildrop.cc", "tempmail.com", "throwawaymail.com",
)  # fmt: skip


def free_mail_domains() -> frozenset[str]:
    extra = getattr(settings, "LEADFLOW_FREE_MAIL_DOMAINS_EXTRA", ())
    return frozenset(BUILT_IN) | {d.strip().lower() for d in extra if d.strip()}


def is_free_mail(domain: str) -> bool:
    return domain.strip().lower() in free_mail_domains()

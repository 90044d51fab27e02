"""Who may change what a lead already holds (issue 16): the one rule every ingestion path asks.

A *secret* key (a server), a person, an import: may. A *public* key is in page source, so
anyone may send with it and name anyone's userId or e-mail. It may create leads (with their
traits and the custom field values its mapped traits carry) and add activities, but it changes
an existing lead — its fields, traits and custom field values, its ids
(linking a userId or anonymousId, merging an anonymous visitor or another lead into it), its
consent — only when:

- the lead is still anonymous (no e-mail, no external id: the browser's own visitor record), or
- the message carries an identity signature (``context.userHash``) = hex HMAC-SHA256 of its
  ``userId`` keyed with the key's identity secret, and that userId is already the lead's.
  The site's backend computes it for its logged-in user; it vouches for the userId only, not
  for ``traits.email``, so a lead found by e-mail alone is never changed by a public key.

Ingestion (``leads.ingest``) and any other path that writes from a message (alias, group,
consent in ``context``) call ``may_change`` before writing; a refusal is reported per item,
never silently dropped.
"""

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Final

from django.db.models import Q
from django.utils.translation import gettext as _

from leadflow.exceptions import DomainError
from leads.models import ActivityKind, Identity, Lead

# Activities that speak for the person's mailbox (a withdrawal of consent, a bounce): a mail
# system or the person's own unsubscribe link reports them, never an unverified browser.
CONSENT_KINDS: Final = frozenset({ActivityKind.UNSUBSCRIBE, ActivityKind.EMAIL_BOUNCE})
SIGNATURE_FIELD: Final = "context.userHash"


@dataclass(frozen=True)
class Caller:
    """Who sends a batch: a server (the default) or a browser holding a public key."""

    public: bool = False
    identity_secret: str = field(default="", repr=False)

    def signs(self, user_id: str | None, user_hash: str | None) -> bool:
        """Whether ``user_hash`` is the identity signature of ``user_id`` (constant time)."""
        if not (self.identity_secret and user_id and isinstance(user_hash, str)):
            return False
        expected = identity_hash(self.identity_secret, user_id)
        return hmac.compare_digest(expected, user_hash.strip().lower().encode())


SERVER: Final = Caller()


class SignatureRequiredError(DomainError):
    """A public key tried to change a known lead without a valid identity signature."""

    code = "identity_signature_required"
    status = 403


def identity_hash(secret: str, user_id: str) -> bytes:
    """The signature a site's backend sends for ``user_id``: hex HMAC-SHA256 (as ASCII bytes)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest().encode()


def may_change(
    caller: Caller, *, lead_id: int, user_id: str | None = None, user_hash: str | None = None
) -> bool:
    """May ``caller`` change what lead ``lead_id`` already holds (see the module docstring)?
    A lead the same message has just created is the caller's own: do not ask for it."""
    if not caller.public:
        return True
    allowed = (Q(email__isnull=True) | Q(email="")) & (  # still anonymous
        Q(external_id__isnull=True) | Q(external_id="")
    )
    if caller.signs(user_id, user_hash):
        allowed |= Q(external_id=user_id) | Q(
            identities__kind=Identity.Kind.USER_ID, identities__value=user_id
        )
    return Lead.objects.filter(allowed, pk=lead_id).exists()


def refusal(what: str) -> str:
    """The reply's explanation when ``may_change`` said no: ``what`` (a sentence without its
    full stop: what was not done), then why."""
    return _(
        # Translators: what: a sentence saying what was not done ("Not applied: traits.plan");
        # signature_field: the message field of the signature, context.userHash
        "%(what)s. This person is already known, and a public key changes a known lead only "
        "with a valid identity signature (%(signature_field)s) for a userId that is already "
        "the lead's. Sign it on your server, or send with a secret key."
    ) % {"what": what, "signature_field": SIGNATURE_FIELD}

"""Keyed hashes of erased people's identifiers: a person erased is not created or imported again.

Only HMAC-SHA256 digests are stored (keyed with ``PRIVACY_HASH_KEY``), so the blocklist itself
holds no personal data that could be read back.
"""

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from leadflow.exceptions import DomainError
from leads.services import normalize_email, normalize_phone
from privacy.models import BlockedIdentifier

Kind = BlockedIdentifier.Kind


class BlockedIdentifierError(DomainError):
    code = "blocked_identifier"
    status = 409


def _normalise(kind: str, value: str | None) -> str:
    if kind == Kind.EMAIL:
        return normalize_email(value) or ""
    if kind == Kind.PHONE:
        phone = normalize_phone(value)
        return phone if len(phone.lstrip("+")) >= 6 else ""  # too short to name anyone
    return (value or "").strip()


def digest(kind: str, value: str | None) -> str:
    """The stored hash of one identifier ("" when there is nothing to hash)."""
    normal = _normalise(kind, value)
    if not normal:
        return ""
    key = str(settings.PRIVACY_HASH_KEY).encode()
    return hmac.new(key, f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()


def identifiers(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, digest) of the identifiers in a lead's fields."""
    found = []
    for kind, name in (
        (Kind.EMAIL, "email"),
        (Kind.EXTERNAL_ID, "external_id"),
        (Kind.PHONE, "phone"),
    ):
        value = digest(kind, fields.get(name))
        if value:
            found.append((kind.value, value))
    return found


def blocked_digests(digests: Iterable[str]) -> set[str]:
    wanted = {d for d in digests if d}
    if not wanted:
        return set()
    return set(BlockedIdentifier.objects.filter(digest__in=wanted).values_list("digest", flat=True))


def ensure_not_blocked(fields: Mapping[str, Any]) -> None:
    found = identifiers(fields)
    hit = blocked_digests(d for _, d in found)
    for kind, value in found:
        if value in hit:
            name = {"email": "email", "external_id": "external_id", "phone": "phone"}[kind]
            raise BlockedIdentifierError(_refused_message(kind), field=name)


def _refused_message(kind: str) -> str:
    """Why an identifier is refused, one whole sentence per kind (for the translators)."""
    if kind == Kind.EMAIL:
        return _(
            "This e-mail belongs to a person who asked to be erased; it cannot be stored again."
        )
    if kind == Kind.PHONE:
        return _(
            "This phone belongs to a person who asked to be erased; it cannot be stored again."
        )
    return _(
        "This external id belongs to a person who asked to be erased; it cannot be stored again."
    )


def block(fields: Mapping[str, Any]) -> int:
    """Add the identifiers in ``fields`` to the blocklist; returns how many were new."""
    rows = [BlockedIdentifier(kind=k, digest=d) for k, d in identifiers(fields)]
    before = BlockedIdentifier.objects.count()
    BlockedIdentifier.objects.bulk_create(rows, ignore_conflicts=True)
    return BlockedIdentifier.objects.count() - before


def on_lead_create_requested(sender: object, *, fields: Mapping[str, Any], **kwargs: Any) -> None:
    """leads.events.lead_create_requested receiver: the API, the board and seeds all pass here."""
    ensure_not_blocked(fields)


def on_lead_identifiers_requested(
    sender: object, *, fields: Mapping[str, Any], **kwargs: Any
) -> None:
    """leads.events.lead_identifiers_requested receiver: an update (an anonymous visitor's lead
    identified, an e-mail edited) may not give a lead an erased person's identifier."""
    ensure_not_blocked(fields)

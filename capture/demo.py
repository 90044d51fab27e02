"""The demo landing page's public analytics key (``/demo/landing/``, ``LEADFLOW_DEMO_LANDING``).

The landing page must print a public key in its HTML, and LeadFlow keeps only the SHA-256 of a
key. Rather than store the key string somewhere in plain text (a column nobody else has, a file
beside the database), the string is *derived* from ``SECRET_KEY`` (HMAC-SHA-256 with a fixed
purpose label): the page recomputes it on every request, the database holds its hash like any
other key's, and ``manage.py seed_capture_demo`` creates the row once (idempotent: it finds it by
the derived prefix). A public key is public by nature (it is in every page's source and may only
send events from its allowed origins), so deriving it reveals nothing; it does not let anyone
derive ``SECRET_KEY`` back. Rotating ``SECRET_KEY`` gives a new demo key: the next seed creates
it and revokes the old one (found by its name). A demo key someone revoked stays revoked (the
page then loads no SDK): an administrator's decision is not undone by a seed.
"""

import base64
import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from leadflow.apikeys import (
    KEY_PREFIX,
    Scope,
    api_key_create,
    api_key_revoke,
    api_key_set_browser_settings,
    clean_origins,
)
from leadflow.models import ApiKey

DEMO_KEY_NAME = "Demo landing page (public)"
_PURPOSE = b"leadflow.capture.demo-landing.public-key"


def demo_key_secret() -> str:
    """The demo's public key string (``lf_<8 hex>_<43 url-safe>``), the same on every call."""
    digest = hmac.new(settings.SECRET_KEY.encode(), _PURPOSE, hashlib.sha256).digest()
    body = hmac.new(digest, b"body", hashlib.sha256).digest()
    return f"{KEY_PREFIX}{digest[:4].hex()}_{base64.urlsafe_b64encode(body).decode().rstrip('=')}"


def _prefix(secret: str) -> str:
    return secret[len(KEY_PREFIX) :].split("_", 1)[0]


def demo_key() -> ApiKey | None:
    """The active key row of ``demo_key_secret()`` (None until the demo seed made it)."""
    return ApiKey.objects.filter(
        prefix=_prefix(demo_key_secret()), kind=ApiKey.Kind.PUBLIC, revoked_at__isnull=True
    ).first()


@transaction.atomic
def demo_key_ensure(*, origins: Iterable[str] = ()) -> tuple[ApiKey, bool]:
    """Create the demo key once (events only, public); add ``origins`` to its allowed origins.
    Returns (key, created). Earlier demo keys (another ``SECRET_KEY``) are revoked."""
    secret = demo_key_secret()
    key = ApiKey.objects.filter(prefix=_prefix(secret)).first()
    wanted = clean_origins(list(origins))
    created = key is None
    if key is None:
        key = api_key_create(
            name=DEMO_KEY_NAME,
            scopes=[Scope.EVENTS_WRITE.value],
            kind=ApiKey.Kind.PUBLIC,
            allowed_origins=wanted,
            secret=secret,
        ).api_key
    else:
        merged = sorted(set(clean_origins(key.allowed_origins)) | set(wanted))
        key = api_key_set_browser_settings(
            key_id=key.pk,
            allowed_origins=merged,
            tracking_consent_required=key.tracking_consent_required,
        )
    stale = ApiKey.objects.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True).exclude(pk=key.pk)
    for old in stale:
        api_key_revoke(key_id=old.pk)
    return key, created

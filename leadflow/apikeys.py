"""API keys: creation, revocation and lookup (services and selectors for ``ApiKey``).

A key looks like ``lf_<prefix>_<secret>``; the prefix finds the row and the SHA-256 of the whole
key is compared in constant time. SHA-256 (not a slow password hash) is right here: the secret
is 32 random bytes, so there is nothing to brute-force, and every request checks it.

Each web process keeps an active key (with its user and the user's permissions) for
``LEADFLOW_API_KEY_CACHE_SECONDS`` (5 s): a request then costs no key or permission query (3 of
the statements an ingestion request made). The price is stated in docs/api.md: a revocation, a
deactivated user or a changed permission reaches other processes within that delay; the process
that revokes forgets the key at once.

A key is *secret* (a server's; every key made before issue 16) or *public* (a website's, in page
source): a public key holds only ``events:write``, works only on ``/v1/*``, and comes with an
identity secret that the site's backend signs its users' ids with (``leads.writepolicy``).
"""

import copy
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leadflow.audit import audit_record
from leadflow.exceptions import NotFoundError
from leadflow.models import ApiKey, User
from leadflow.roles import Role


class Scope(StrEnum):
    """Every scope a key can hold, declared here only. Views name the scope they need in
    ``required_scopes`` (see ``leadflow.api.auth``); docs/api.md lists the endpoints of each."""

    LEADS_READ = "leads:read"
    LEADS_WRITE = "leads:write"
    EVENTS_WRITE = "events:write"
    HANDOVER_READ = "handover:read"
    HANDOVER_WRITE = "handover:write"
    SCORING_READ = "scoring:read"
    SCORING_WRITE = "scoring:write"
    REPORTS_READ = "reports:read"
    REPORTS_WRITE = "reports:write"
    SPEND_WRITE = "spend:write"
    PREDICTIVE_READ = "predictive:read"
    PREDICTIVE_WRITE = "predictive:write"
    PRIVACY_READ = "privacy:read"
    PRIVACY_WRITE = "privacy:write"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"
    SCHEMA_READ = "schema:read"
    ACCOUNTS_READ = "accounts:read"
    ACCOUNTS_WRITE = "accounts:write"


# One line per scope for people choosing them (Settings › API keys); docs/api.md has the
# endpoint list of each.
SCOPE_HELP: dict[str, Any] = {
    Scope.LEADS_READ: gettext_lazy("Read leads, their activities and stage history."),
    Scope.LEADS_WRITE: gettext_lazy("Create and update leads and move them through the lifecycle."),
    Scope.EVENTS_WRITE: gettext_lazy("Send events (REST events and the Segment-compatible /v1/*)."),
    Scope.HANDOVER_READ: gettext_lazy(
        "Read handovers, notifications, SLA timers and handover settings."
    ),
    Scope.HANDOVER_WRITE: gettext_lazy(
        "Accept, reject and reassign handovers; change handover settings."
    ),
    Scope.SCORING_READ: gettext_lazy("Read scoring models, rules, runs and score breakdowns."),
    Scope.SCORING_WRITE: gettext_lazy("Change, dry-run and publish scoring models."),
    Scope.REPORTS_READ: gettext_lazy(
        "Read reports, campaign spend, the channel grouping and exchange rates."
    ),
    Scope.REPORTS_WRITE: gettext_lazy("Change the channel grouping and the exchange rates."),
    Scope.SPEND_WRITE: gettext_lazy("Import campaign spend (for the return-on-spend report)."),
    Scope.PREDICTIVE_READ: gettext_lazy(
        "Read predictive models, training runs and lead predictions."
    ),
    Scope.PREDICTIVE_WRITE: gettext_lazy("Train predictive models."),
    Scope.PRIVACY_READ: gettext_lazy("Read imports, duplicates, merges, consent and exports."),
    Scope.PRIVACY_WRITE: gettext_lazy("Import, merge, record consent and erase."),
    Scope.WEBHOOKS_READ: gettext_lazy("Read webhook subscriptions and deliveries."),
    Scope.WEBHOOKS_WRITE: gettext_lazy("Change webhook subscriptions and redeliver."),
    Scope.SCHEMA_READ: gettext_lazy("Read the OpenAPI schema (/api/schema/)."),
    # Translators: "accounts" are the companies leads work at (B2B), not user accounts
    Scope.ACCOUNTS_READ: gettext_lazy("Read accounts, their members and a lead's account."),
    # Translators: "accounts" are the companies leads work at (B2B), not user accounts
    Scope.ACCOUNTS_WRITE: gettext_lazy(
        "Create, update and merge accounts; link leads and set their buying roles."
    ),
}

KEY_PREFIX = "lf_"
# what a caller-chosen key string must look like (as random ones do: 8 hex, 43 url-safe)
CHOSEN_SECRET = re.compile(r"lf_(?P<prefix>[0-9a-f]{8})_[A-Za-z0-9_-]{43}")
IDENTITY_SECRET_PREFIX = "lfid_"  # noqa: S105  (the format's prefix, not a secret)
PUBLIC_SCOPES = frozenset({Scope.EVENTS_WRITE.value})  # all a browser may do
LAST_USED_GRANULARITY = timedelta(minutes=1)  # at most one UPDATE a minute per key

# prefix -> (monotonic expiry, the active key with its user and permissions loaded)
_active_keys: dict[str, tuple[float, ApiKey]] = {}
_active_keys_lock = threading.Lock()  # gthread workers share the dict


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    secret: str  # the whole key; shown once, never stored
    identity_secret: str = ""  # a public key's; shown once (stored: the server signs with it)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = sorted({s.strip() for s in scopes if s.strip()})
    unknown = [s for s in wanted if s not in Scope.__members__.values()]
    if unknown:
        valid = ", ".join(s.value for s in Scope)
        raise ValidationError(
            {
                "scopes": _("Unknown scope(s) %(unknown)s; use %(valid)s.")
                % {"unknown": ", ".join(unknown), "valid": valid}
            }
        )
    if not wanted:
        raise ValidationError({"scopes": _("A key needs at least one scope.")})
    return wanted


def clean_origins(text: str | Iterable[str]) -> list[str]:
    """``allowed_origins`` as entered (one per line, or a list) → normalised origins
    (``scheme://host[:port]``, lower case, default port dropped); a ValidationError names the
    first bad line and why."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    out: list[str] = []
    for raw in lines:
        line = raw.strip().rstrip("/")
        if not line:
            continue
        try:
            parts = urlsplit(line)
            port = parts.port
        except ValueError:
            parts, port = None, None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username
            or "*" in line
        ):
            raise ValidationError(
                {
                    "allowed_origins": _(
                        "%(origin)s is not an origin: write scheme://host[:port], e.g. "
                        "https://www.example.com (no path, no wildcard)."
                    )
                    % {"origin": repr(raw.strip()[:100])}
                }
            )
        default = {"http": 80, "https": 443}[parts.scheme]
        origin = f"{parts.scheme}://{parts.hostname}"
        if port is not None and port != default:
            origin += f":{port}"
        if origin not in out:
            out.append(origin)
    return out


def key_origins(key: ApiKey) -> frozenset[str]:
    """The origins a public key's pages may send from (already clean when stored)."""
    return frozenset(line.strip() for line in key.allowed_origins.splitlines() if line.strip())


def _browser_settings(
    kind: str, allowed_origins: str | Iterable[str], tracking_consent_required: bool
) -> str:
    origins = clean_origins(allowed_origins)
    if kind != ApiKey.Kind.PUBLIC and (origins or tracking_consent_required):
        raise ValidationError(
            {
                "allowed_origins": _(
                    "Allowed origins and the tracking consent setting are for public keys only."
                )
            }
        )
    return "\n".join(origins)


def integration_user(*, name: str) -> User:
    """The account a key acts as when none is named: ``api:<name>`` with the Integration role."""
    user, created = User.objects.get_or_create(username=f"api:{name}"[:150])
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    group, _ = Group.objects.get_or_create(name=Role.INTEGRATION.value)
    user.groups.add(group)
    return user


@transaction.atomic
def api_key_create(
    *,
    name: str,
    scopes: Iterable[str],
    user: User | None = None,
    rate_limit: int | None = None,
    kind: str = ApiKey.Kind.SECRET,
    allowed_origins: str | Iterable[str] = "",
    tracking_consent_required: bool = False,
    actor: User | None = None,
    request: HttpRequest | None = None,
    secret: str | None = None,
) -> CreatedKey:
    """Create a key; the returned ``secret`` (and a public key's ``identity_secret``) are the
    only time they are ever shown. ``secret``: a public key's string chosen by the caller
    instead of a random one (the demo landing page's, derived from SECRET_KEY so that nothing
    stores it: ``capture.demo``); it must look like a key."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("A key needs a name.")})
    if kind not in ApiKey.Kind.values:
        raise ValidationError(
            {"kind": _("A key is %(kinds)s.") % {"kinds": " or ".join(ApiKey.Kind.values)}}
        )
    clean = _clean_scopes(scopes)
    if kind == ApiKey.Kind.PUBLIC and set(clean) - PUBLIC_SCOPES:
        raise ValidationError(
            {
                "scopes": _("A public key may hold only %(scopes)s.")
                % {"scopes": ", ".join(sorted(PUBLIC_SCOPES))}
            }
        )
    if rate_limit is not None and rate_limit < 1:
        raise ValidationError({"rate_limit": _("The rate limit must be at least 1.")})
    origins = _browser_settings(kind, allowed_origins, tracking_consent_required)
    if secret is not None:
        match = CHOSEN_SECRET.fullmatch(secret)
        if kind != ApiKey.Kind.PUBLIC or match is None:
            raise ValidationError({"secret": _("Only a public key's string may be chosen.")})
        prefix = match["prefix"]
        if ApiKey.objects.filter(prefix=prefix).exists():
            raise ValidationError({"secret": _("A key with this prefix exists already.")})
    else:
        prefix = secrets.token_hex(4)
        secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    owner = user or integration_user(name=name)
    identity_secret = ""
    if kind == ApiKey.Kind.PUBLIC:
        identity_secret = f"{IDENTITY_SECRET_PREFIX}{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name,
        kind=kind,
        identity_secret=identity_secret,
        prefix=prefix,
        hashed_key=hash_key(secret),
        scopes=clean,
        user=owner,
        rate_limit=rate_limit,
        allowed_origins=origins,
        tracking_consent_required=tracking_consent_required,
        created_by=actor,
    )
    audit_record(
        action="apikey.create",
        actor=actor,
        target_type="apikey",
        target_id=key.pk,
        details={
            "name": name,
            "kind": kind,
            "prefix": prefix,
            "scopes": clean,
            "user": owner.username,
            **({"allowed_origins": origins.split("\n")} if origins else {}),
            **({"tracking_consent_required": True} if tracking_consent_required else {}),
        },
        request=request,
    )
    return CreatedKey(api_key=key, secret=secret, identity_secret=identity_secret)


@transaction.atomic
def api_key_revoke(
    *, key_id: int, actor: User | None = None, request: HttpRequest | None = None
) -> ApiKey:
    """Revoke a key at once (the next request with it gets 401). Revoking twice is a no-op."""
    key = ApiKey.objects.select_for_update().filter(pk=key_id).first()
    if key is None:
        raise NotFoundError(_("There is no API key with id %(id)s.") % {"id": key_id}, field="key")
    forget_cached_key(key.prefix)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            action="apikey.revoke",
            actor=actor,
            target_type="apikey",
            target_id=key.pk,
            details={"name": key.name, "prefix": key.prefix},
            request=request,
        )
    return key


@transaction.atomic
def api_key_set_browser_settings(
    *,
    key_id: int,
    allowed_origins: str | Iterable[str],
    tracking_consent_required: bool,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> ApiKey:
    """Change a public key's allowed origins and tracking-consent setting (audited). Other
    web processes see it within ``LEADFLOW_API_KEY_CACHE_SECONDS``, this one at once."""
    key = ApiKey.objects.select_for_update().filter(pk=key_id).first()
    if key is None:
        raise NotFoundError(_("There is no API key with id %(id)s.") % {"id": key_id}, field="key")
    origins = _browser_settings(key.kind, allowed_origins, tracking_consent_required)
    if (origins, tracking_consent_required) == (key.allowed_origins, key.tracking_consent_required):
        return key
    key.allowed_origins, key.tracking_consent_required = origins, tracking_consent_required
    key.save(update_fields=["allowed_origins", "tracking_consent_required"])
    forget_cached_key(key.prefix)
    audit_record(
        action="apikey.change",
        actor=actor,
        target_type="apikey",
        target_id=key.pk,
        details={
            "prefix": key.prefix,
            "allowed_origins": origins.split("\n") if origins else [],
            "tracking_consent_required": tracking_consent_required,
        },
        request=request,
    )
    return key


def forget_cached_key(prefix: str) -> None:
    with _active_keys_lock:
        _active_keys.pop(prefix, None)


def _active_key(prefix: str) -> ApiKey | None:
    """The key row for ``prefix`` if it is active, from this process's cache when fresh."""
    now = time.monotonic()
    cached = _active_keys.get(prefix)
    if cached is not None and cached[0] > now:
        return cached[1]
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None or key.revoked_at is not None or not key.user.is_active:
        forget_cached_key(prefix)
        return None
    key.user.get_all_permissions()  # fills the user's permission cache (2 queries) once per TTL
    ttl = float(settings.LEADFLOW_API_KEY_CACHE_SECONDS)
    if ttl > 0:
        with _active_keys_lock:
            _active_keys[prefix] = (now + ttl, key)
    return key


def api_key_lookup(raw: str) -> ApiKey | None:
    """The active key ``raw`` names, or None (unknown, malformed, wrong secret or revoked).

    Returns a copy (with a copy of its user) so that a request may not change the cached one."""
    if not raw.startswith(KEY_PREFIX) or "\x00" in raw:  # PostgreSQL takes no NUL in text
        return None
    prefix = raw[len(KEY_PREFIX) :].split("_", 1)[0]
    key = _active_key(prefix)
    if key is None or not hmac.compare_digest(key.hashed_key, hash_key(raw)):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    mine = copy.copy(key)
    mine.user = copy.copy(key.user)
    return mine

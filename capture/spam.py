"""Spam and abuse defence for the public submission endpoint, without a third-party captcha.

Checks, in the order the view runs them (cheapest first, nothing parsed before it must be):
body size (16 KB), origin (the form's allowed origins or LeadFlow's own, for the iframe),
per-IP and per-form rate limits (``leadflow.ratelimit``: one Redis INCR each), the honeypot
``lf_website``, and for the script and iframe embeds the signed challenge (``capture.challenge``:
proof of work, minimum fill time) whose token is usable once (a Redis ``SET NX`` of its hash).

The origin check binds a form to its sites in browsers (another site's page cannot post it
through its visitors, nor read the reply: CORS answers allowed origins only); a bot sets any
Origin it likes, which is what the challenge and the rate limits are for.

Every refusal is a ``Rejection`` row, never a lead. So that refusals cannot be turned into a
write amplifier (one cheap request = one row), rows are capped: a client IP writes at most
``REJECTIONS_PER_IP_MINUTE`` rows a minute and all IPs together ``REJECTIONS_PER_MINUTE``;
a rate-limited request writes a row only when it is the first over the limit in its window
(the marketer sees "rate limited" once per IP and window, not ten thousand times). Refusals
over the cap are still refused, only not logged (a warning in the server log says so, once a
minute).
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import translation

from capture import challenge
from capture.models import Form, IpStorage, Rejection
from capture.submit import stored_ip
from leadflow import ratelimit

log = logging.getLogger(__name__)

HONEYPOT = "lf_website"
MAX_BODY_BYTES = 16 * 1024
EXCERPT_CHARS = 2048
REJECTIONS_PER_IP_MINUTE = 30
REJECTIONS_PER_MINUTE = 1000


@dataclass(frozen=True)
class Limit:
    limit: int
    window: int


def ip_limit() -> Limit:
    return Limit(settings.LEADFLOW_CAPTURE_IP_RATE_LIMIT, settings.LEADFLOW_CAPTURE_IP_RATE_WINDOW)


def form_limit() -> Limit:
    return Limit(
        settings.LEADFLOW_CAPTURE_FORM_RATE_LIMIT, settings.LEADFLOW_CAPTURE_FORM_RATE_WINDOW
    )


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL ("" when it has none)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def request_origin(request: HttpRequest) -> str:
    """The Origin header, or the Referer's origin when a browser sent no Origin."""
    origin = request.headers.get("Origin", "").strip()
    if origin and origin != "null":
        return origin.rstrip("/").lower()
    return origin_of(request.headers.get("Referer", ""))


def own_origins(request: HttpRequest) -> set[str]:
    """LeadFlow's own origins: the configured site URL and the host this request came to."""
    return {origin_of(settings.SITE_URL), f"{request.scheme}://{request.get_host()}".lower()}


def origin_allowed(form: Form, origin: str, request: HttpRequest) -> bool:
    if not origin:
        return False
    return origin in {o.lower() for o in form.origins()} or origin in own_origins(request)


def rate_limited(form: Form, ip: str | None) -> tuple[float, bool] | None:
    """None when within both limits; else (seconds to wait, whether this is the first request
    over the limit in its window: only that one is logged)."""
    per_ip, per_form = ip_limit(), form_limit()
    if ip:
        wait = ratelimit.hit(f"capture:ip:{ip}", limit=per_ip.limit, window=per_ip.window)
        if wait is not None:
            return wait, _first_over(f"capture:ip:{ip}", per_ip.window)
    wait = ratelimit.hit(f"capture:form:{form.pk}", limit=per_form.limit, window=per_form.window)
    if wait is not None:
        return wait, _first_over(f"capture:form:{form.pk}", per_form.window)
    return None


def _first_over(bucket: str, window: int) -> bool:
    return _claim(f"capture:over:{bucket}", window)


def token_claim(token: str, *, age_seconds: float = 0.0) -> bool:
    """Mark a challenge token used; False when it was used before (a replay). The mark lives
    as long as the token could still be accepted (``challenge.MAX_AGE`` from its issue)."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    ttl = max(int(challenge.MAX_AGE - age_seconds) + 60, 60)
    return _claim(f"capture:token:{digest}", ttl)


def token_release(token: str) -> None:
    """Give a token back (the submission was refused as invalid: the visitor corrects it and
    sends again with the same token)."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    key = f"{settings.LEADFLOW_RATE_LIMIT_PREFIX}:capture:token:{digest}"
    client = ratelimit._redis()
    if client is not None:
        try:
            client.delete(key)
            return
        except redis.RedisError:
            pass
    cache.delete(key)


def _claim(name: str, ttl: int) -> bool:
    """Set ``name`` if absent (Redis SET NX, shared by every web process; else Django's cache)."""
    key = f"{settings.LEADFLOW_RATE_LIMIT_PREFIX}:{name}"
    client = ratelimit._redis()
    if client is not None:
        try:
            return bool(client.set(key, 1, nx=True, ex=ttl))
        except redis.RedisError:
            log.warning("capture: Redis unavailable, claiming %s in the Django cache", name)
    return bool(cache.add(key, 1, timeout=ttl))


def check_challenge(form: Form, data: dict[str, object]) -> challenge.Verdict:
    token = data.get("lf_token")
    proof = data.get("lf_proof")
    return challenge.verify(
        form.public_id,
        token if isinstance(token, str) else "",
        str(proof) if isinstance(proof, str | int) and not isinstance(proof, bool) else "",
        min_fill_seconds=form.min_fill_seconds,
    )


def rejection_log(
    *,
    request: HttpRequest,
    reason: str,
    detail: str | Callable[[], str] = "",
    form: Form | None = None,
    form_ref: str = "",
    ip: str | None = None,
    origin: str = "",
    body: bytes = b"",
) -> Rejection | None:
    """Write a ``Rejection`` (see the module docstring for the cap); None when capped.
    ``detail``: text, or a function giving it translated (called in the site's language: the
    marketer reads it, not the visitor whose language the request is in)."""
    if ip and ratelimit.hit(f"capture:rej:{ip}", limit=REJECTIONS_PER_IP_MINUTE, window=60):
        _capped("ip")
        return None
    if ratelimit.hit("capture:rej:all", limit=REJECTIONS_PER_MINUTE, window=60):
        _capped("all")
        return None
    if callable(detail):  # a translated text: in the site's language, for the marketer
        with translation.override(settings.LANGUAGE_CODE):
            detail = detail()
    excerpt = body[:EXCERPT_CHARS].decode("utf-8", errors="replace").replace("\x00", "")
    return Rejection.objects.create(
        form=form,
        form_ref=form_ref[:40],
        reason=reason,
        detail=detail[:2000],
        # kept as the form keeps consent records' addresses; truncated for an unknown form
        ip=stored_ip(ip, form.ip_storage if form is not None else IpStorage.TRUNCATED),
        origin=origin[:300],
        excerpt=excerpt,
    )


def _capped(which: str) -> None:
    if _claim(f"capture:rej-capped:{which}", 60):
        log.warning(
            "capture: rejection log capped (%s): further refusals this minute unlogged", which
        )

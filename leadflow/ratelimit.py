"""Per-key rate limit: a fixed window counted with one atomic increment.

Production: Redis ``INCR`` + ``EXPIRE`` in one MULTI (``LEADFLOW_RATE_LIMIT_REDIS_URL``, by
default the Redis broker), so every web process shares one counter per key and window.
Embedded profile (no Redis): Django's cache (``cache.add`` + ``cache.incr``), which is per process
with the default local-memory cache. If Redis is unreachable the cache is used, not a 500.
"""

import logging
import time
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache

log = logging.getLogger(__name__)


@cache
def _redis() -> "redis.Redis | None":
    url = getattr(settings, "LEADFLOW_RATE_LIMIT_REDIS_URL", "")
    if not url:
        return None
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def backend_name() -> str:
    return "redis" if _redis() is not None else "django-cache"


def hit(bucket: str, *, limit: int, window: int, now: float | None = None) -> float | None:
    """Count one request in ``bucket``; None if allowed, else seconds until the window ends."""
    now = time.time() if now is None else now
    start = int(now // window) * window
    name = f"{settings.LEADFLOW_RATE_LIMIT_PREFIX}:{bucket}:{start}"
    count = _incr(name, window)
    if count <= limit:
        return None
    return max(start + window - now, 0.001)


def _incr(name: str, window: int) -> int:
    client = _redis()
    if client is not None:
        try:
            pipe = client.pipeline(transaction=True)
            pipe.incr(name)
            pipe.expire(name, window + 1)
            count, _ = pipe.execute()  # type: ignore[no-untyped-call]
            return int(count)
        except redis.RedisError:
            log.warning("rate limit: Redis unavailable, counting in the Django cache")
    django_cache.add(name, 0, timeout=window + 1)
    try:
        return int(django_cache.incr(name))
    except ValueError:  # expired between add and incr
        django_cache.add(name, 1, timeout=window + 1)
        return 1

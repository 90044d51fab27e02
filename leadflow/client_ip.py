"""The client's IP address: one rule for the login lockout (django-axes) and the audit log.

``X-Forwarded-For`` is written by whoever sends the request, so it is trusted only as far as
our own proxies go: with ``LEADFLOW_TRUSTED_PROXY_COUNT = N`` (the reverse proxies in front of
gunicorn, each appending the address it received the request from), the client is the N-th
address from the right. With 0 (the default) the header is ignored and the peer address
(``REMOTE_ADDR``) is the client, so nobody can dodge a lockout or forge an audit row by sending
the header themselves.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    peer = _valid(request.META.get("REMOTE_ADDR") or "")
    proxies: int = settings.LEADFLOW_TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return peer
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if not hops:
        return peer
    # Fewer hops than proxies: the request skipped a proxy; the left-most hop is the farthest
    # address any of ours saw. A malformed hop is never stored: fall back to the peer.
    return _valid(hops[-proxies] if len(hops) >= proxies else hops[0]) or peer


def kept_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address, mode: str) -> str | None:
    """An address as a privacy setting keeps it: ``none``, ``truncated`` (IPv4 /24, IPv6 /48:
    the network, not the person) or ``full``. One rule for ingestion's ``context.ip``
    (LEADFLOW_INGEST_IP) and capture's consent records and rejections (``Form.ip_storage``)."""
    if mode == "none":
        return None
    if mode == "full":
        return str(address)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
